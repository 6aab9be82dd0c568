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
 * Exit codes are the native tools' kinds (kinds.h); the message names the step and the file.
 * ctl-launch runs these same operations in its own process, without a fork and an exec (launch.c),
 * so each goes back to the network namespace it started in and closes what it opened: `add`
 * unshares a namespace for the calling process, binds it, and returns to the one it was in. */
#define _GNU_SOURCE
#include "netns.h"
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

static char message[1024];

const char *ctl_netns_message(void) { return message; }

int ctl_netns_fail(const char *step, const char *what) {
  int e = errno;
  snprintf(message, sizeof message, "ctl-netns: %s %s: %s", step, what, strerror(e));
  if (e == ENOENT || e == ENODEV) return CTL_KIND_NOT_FOUND;
  if (e == EEXIST) return CTL_KIND_ALREADY_EXISTS;
  if (e == EPERM || e == EACCES) return CTL_KIND_PERMISSION_DENIED;
  if (e == ENOSPC || e == ENOMEM || e == EMFILE || e == ENFILE || e == EAGAIN) return CTL_KIND_RESOURCE_EXHAUSTED;
  return CTL_KIND_INTERNAL;
}

int ctl_netns_usage(const char *usage) {
  snprintf(message, sizeof message, "usage: %s", usage);
  return CTL_KIND_USAGE;
}

static int add(const char *file) {
  int fd = open(file, O_RDONLY | O_CREAT | O_CLOEXEC, 0444);
  if (fd < 0) return ctl_netns_fail("create the mount point", file);
  close(fd);
  int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) return ctl_netns_fail("open the caller's network namespace for", file);
  int rc = 0;
  if (unshare(CLONE_NEWNET) < 0) {
    rc = ctl_netns_fail("unshare a network namespace for", file);
  } else {
    if (ctl_loopback_up() < 0)
      rc = ctl_netns_fail("bring up lo in the network namespace of", file);
    else if (mount("/proc/self/ns/net", file, NULL, MS_BIND, NULL) < 0)
      rc = ctl_netns_fail("bind the network namespace on", file);
    /* the new namespace lives on in its bind mount (or goes, unbound, with this last reference) */
    if (setns(home, CLONE_NEWNET) < 0 && rc == 0) rc = ctl_netns_fail("return to the caller's network namespace from", file);
  }
  close(home);
  return rc;
}

static int del(const char *file) {
  /* EINVAL: not a mount point (any more); ENOENT: no such file */
  while (umount2(file, MNT_DETACH | UMOUNT_NOFOLLOW) == 0) {}
  if (errno != EINVAL && errno != ENOENT) return ctl_netns_fail("unmount", file);
  if (unlink(file) < 0 && errno != ENOENT) return ctl_netns_fail("remove", file);
  return 0;
}

int ctl_netns_run(int argc, char **argv) {
  message[0] = 0;
  if (argc == 3 && !strcmp(argv[1], "add")) return add(argv[2]);
  if (argc == 3 && !strcmp(argv[1], "del")) return del(argv[2]);
  if (argc >= 2 && !strcmp(argv[1], "veth")) return netns_veth(argc - 2, argv + 2);
  if (argc == 3 && !strcmp(argv[1], "link-del")) return netns_link_del(argv[2]);
  return ctl_netns_usage("ctl-netns add|del FILE | veth ... | link-del NAME");
}
