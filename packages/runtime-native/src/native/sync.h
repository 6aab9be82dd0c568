/* The parent <-> child protocol during create/exec (sync.c). */
#ifndef CTL_SYNC_H
#define CTL_SYNC_H

#include <sys/types.h>
#include "error.h"

/* SYNC_PID: stage 2's pid, for the parent to move into the cgroups (then SYNC_CGROUPS_JOINED);
 * SYNC_PID_SELF_JOINING: stage 2's pid, and stage 2 joins the cgroups itself (spawn.c) */
enum sync_type {
  SYNC_GO = 1,
  SYNC_USERMAP,
  SYNC_USERMAP_DONE,
  SYNC_PID,
  SYNC_READY,
  SYNC_ERROR,
  SYNC_CGROUPS_JOINED,
  SYNC_PID_SELF_JOINING
};
struct sync_msg {
  int type;
  pid_t pid;
  struct ctl_err err;
};
int sync_send(int fd, int type, pid_t pid, const struct ctl_err *err);
int sync_recv(int fd, struct sync_msg *m, int flags); /* recv(2)'s flags; 0 on EOF, 1 on a message, -1 on error */
void sync_child_fail(int fd, struct ctl_err *e) __attribute__((noreturn));

#endif
