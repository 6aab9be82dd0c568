/* The container's root filesystem: spec mounts, devices, pivot_root, masked and read-only
 * paths (mounts.c). */
#ifndef CTL_MOUNTS_H
#define CTL_MOUNTS_H

#include <stdbool.h>
#include <jansson.h>
#include "error.h"

struct cgroup;

struct mount_ctx {
  json_t *spec;
  const char *bundle;
  struct cgroup *cg;
  const char *rootfs; /* absolute host path */
  bool userns;
  bool cgroupns;
  /* no mount namespace in linux.namespaces: the caller's is inherited (the spec allows it), so
   * the mounts go under a bind of the rootfs in that namespace, chroot replaces pivot_root and
   * the namespace's own propagation is left alone; delete detaches the bind (mounts_release_host) */
  bool host_mntns;
  bool no_pivot;
  bool terminal;
};
int mounts_prepare_rootfs(struct mount_ctx *m, struct ctl_err *e); /* before pivot */
int mounts_pivot(struct mount_ctx *m, struct ctl_err *e);
int mounts_finalize(struct mount_ctx *m, struct ctl_err *e); /* masked/readonly/ro root */
/* The id (statx STATX_MNT_ID_UNIQUE) of the mount at the top of path, 0 if unknown. */
unsigned long long mounts_top_id(const char *path);
/* Detach the rootfs bind a container without a mount namespace made in the caller's (with all
 * the mounts under it), if the mount at the top of rootfs is still that one (id). */
int mounts_release_host(const char *rootfs, unsigned long long id, struct ctl_err *e);
int mount_console(const char *slave_path, struct ctl_err *e);
unsigned long mount_parse_options(json_t *options, char **data, unsigned long *propagation, bool *bind, bool *rec);

#endif
