/* ctl-netns: a container's network namespace pinned on a file, made and removed in one exec of a
 * small static binary. It replaces `unshare --net=FILE ip link set lo up` (two execs, one of them
 * iproute2's) and `umount --recursive FILE` (util-linux, which reads the whole mount table) on the
 * run path of every container with a network.
 *
 *   ctl-netns add FILE   a new network namespace, its lo up, bind-mounted on FILE (made if missing)
 *   ctl-netns del FILE   unmounts FILE (every mount stacked on it; none is fine) and removes it
 *                        (already gone is fine)
 *   ctl-netns veth ...   a container's veth pair, made and configured (netns_veth.c)
 *   ctl-netns link-del NAME  a link of the caller's netns deleted (netns_veth.c); none is fine
 *
 * Exit codes are the native tools' kinds (kinds.h); the message names the step and the file. The
 * namespace is made in this process (unshare), so it is this process's /proc/self/ns/net that is
 * bound: single-threaded, nothing else to join. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>
#include "kinds.h"
#include "loopback.h"
#include "netns_veth.h"

static int fail(const char *step, const char *file) {
  int e = errno;
  fprintf(stderr, "ctl-netns: %s %s: %s\n", step, file, strerror(e));
  if (e == ENOENT) return CTL_KIND_NOT_FOUND;
  if (e == EPERM || e == EACCES) return CTL_KIND_PERMISSION_DENIED;
  if (e == ENOSPC || e == ENOMEM || e == EMFILE || e == ENFILE || e == EAGAIN) return CTL_KIND_RESOURCE_EXHAUSTED;
  return CTL_KIND_INTERNAL;
}

static int add(const char *file) {
  int fd = open(file, O_RDONLY | O_CREAT | O_CLOEXEC, 0444);
  if (fd < 0) return fail("create the mount point", file);
  close(fd);
  if (unshare(CLONE_NEWNET) < 0) return fail("unshare a network namespace for", file);
  if (ctl_loopback_up() < 0) return fail("bring up lo in the network namespace of", file);
  if (mount("/proc/self/ns/net", file, NULL, MS_BIND, NULL) < 0) return fail("bind the network namespace on", file);
  return 0;
}

static int del(const char *file) {
  /* EINVAL: not a mount point (any more); ENOENT: no such file */
  while (umount2(file, MNT_DETACH | UMOUNT_NOFOLLOW) == 0) {}
  if (errno != EINVAL && errno != ENOENT) return fail("unmount", file);
  if (unlink(file) < 0 && errno != ENOENT) return fail("remove", file);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "add")) return add(argv[2]);
  if (argc == 3 && !strcmp(argv[1], "del")) return del(argv[2]);
  if (argc >= 2 && !strcmp(argv[1], "veth")) return netns_veth(argc - 2, argv + 2);
  if (argc == 3 && !strcmp(argv[1], "link-del")) return netns_link_del(argv[2]);
  fprintf(stderr, "usage: ctl-netns add|del FILE | veth ... | link-del NAME\n");
  return CTL_KIND_USAGE;
}
