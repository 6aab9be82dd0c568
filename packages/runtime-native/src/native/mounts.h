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
  bool no_pivot;
  bool terminal;
};
int mounts_prepare_rootfs(struct mount_ctx *m, struct ctl_err *e); /* before pivot */
int mounts_pivot(struct mount_ctx *m, struct ctl_err *e);
int mounts_finalize(struct mount_ctx *m, struct ctl_err *e); /* masked/readonly/ro root */
int mount_console(const char *slave_path, struct ctl_err *e);
unsigned long mount_parse_options(json_t *options, char **data, unsigned long *propagation, bool *bind, bool *rec);

#endif
