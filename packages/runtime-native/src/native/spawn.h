/* The two-stage fork shared by create and exec (spawn.c).
 * stage 1 joins namespaces by path, unshares the new ones (asking the parent for the user
 * namespace id maps) and forks stage 2, which is the container process: pid 1 of a new pid
 * namespace for create. The parent moves stage 2 into the container's cgroups while it sets up
 * the rootfs (spawn.c: await_cgroups). Stage 2 reports READY (or an error record) before it
 * waits/execs. */
#ifndef CTL_SPAWN_H
#define CTL_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>
#include <jansson.h>
#include "error.h"
#include "mounts.h"
#include "namespaces.h"

struct cgroup;

struct spawn {
  json_t *spec;
  json_t *process;
  struct ns_plan plan;
  struct cgroup *cg; /* NULL: no cgroup to join */
  struct mount_ctx mctx;
  bool is_exec;
  bool no_new_keyring;
  int fifo_fd;           /* O_PATH exec.fifo, -1: exec without waiting for start */
  int console_fd;        /* connected --console-socket, -1 if none */
  const char *cache_dir; /* the runtime's --root, where compiled seccomp filters are kept */
  const char *exec_root; /* exec into a container without a mount namespace: its root to chroot into */
  /* set by spawn_process: stage 2 may join the cgroups itself (see spawn.c), through this fd of
   * its v2 cgroup (-1: none, a v1-only host) for clone3's CLONE_INTO_CGROUP */
  bool self_join;
  int cgroup2_fd;
  bool joins_itself; /* in stage 2: it does */
};
int spawn_process(struct spawn *sp, pid_t *pid, struct ctl_err *e);

#endif
