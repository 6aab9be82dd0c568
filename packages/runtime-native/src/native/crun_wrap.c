/* ctl-crun: runs crun (from PATH) with the same arguments, so that it works on a hybrid cgroup
 * layout: v1 controllers plus a cgroup2 mount at /sys/fs/cgroup/unified. Debian's crun refuses
 * that layout ("cgroups in hybrid mode not supported, drop all controllers from cgroupv2") even
 * though the v2 mount carries no controller crun would use. On such a host this wrapper gives crun
 * a mount namespace of its own (slave of the host's, so nothing it does there propagates back),
 * detaches /sys/fs/cgroup/unified in it and execs crun, which then sees a plain v1 layout and
 * manages the v1 controllers as usual. The container's namespaces are made from this one, so the
 * container does not see the v2 mount either. Elsewhere it just execs crun. Same pid throughout
 * (no fork): whoever waits for crun (the shim) waits for this process. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <unistd.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

static int hybrid(void) {
  struct statfs sf;
  if (statfs("/sys/fs/cgroup", &sf) < 0 || sf.f_type == CGROUP2_SUPER_MAGIC) return 0;
  return statfs("/sys/fs/cgroup/unified", &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
}

int main(int argc, char **argv) {
  (void)argc;
  if (hybrid()) {
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0 ||
        umount2("/sys/fs/cgroup/unified", MNT_DETACH) < 0) {
      fprintf(stderr, "ctl-crun: hide the cgroup v2 mount of a hybrid layout from crun: %s\n", strerror(errno));
      return 1;
    }
  }
  argv[0] = "crun";
  execvp("crun", argv);
  fprintf(stderr, "ctl-crun: crun: %s\n", strerror(errno));
  return errno == ENOENT ? 127 : 126;
}
