/* Cgroups v1, v2 and hybrid: create, configure, enter, freeze, kill, stats, destroy (cgroups.c). */
#ifndef CTL_CGROUPS_H
#define CTL_CGROUPS_H

#include <stdbool.h>
#include <sys/types.h>
#include <jansson.h>
#include "error.h"

enum cg_mode { CG_V1, CG_V2, CG_HYBRID };
struct cgroup {
  enum cg_mode mode;
  char *path; /* cgroupsPath, e.g. /ctl/<id> */
  /* one entry per hierarchy, n of them (arrays grow as the host's hierarchies are found) */
  int n;
  char **ctrl; /* controller names ("memory", "cpu,cpuacct", "unified") */
  char **dir;  /* absolute directory of this container's cgroup in each hierarchy */
  char **opts; /* v1 mount options naming the hierarchy (cpu, name=systemd) */
  /* directories we made (deepest last), all of them: destroy removes exactly these */
  char **created;
  int ncreated;
};
int cg_detect(enum cg_mode *mode, struct ctl_err *e);
int cg_init(struct cgroup *cg, const char *cgpath, struct ctl_err *e);
int cg_create(struct cgroup *cg, struct ctl_err *e);
/* linux.resources (cgroups_resources.c): each field lands in its file or fails, naming it */
int cg_apply(struct cgroup *cg, json_t *resources, struct ctl_err *e);
int cg_enter(struct cgroup *cg, pid_t pid, struct ctl_err *e);
int cg_enter_self_v1(struct cgroup *cg, struct ctl_err *e);
int cg_destroy(struct cgroup *cg, struct ctl_err *e);
void cg_free(struct cgroup *cg);
const char *cg_dir(struct cgroup *cg, const char *controller);
int cg_pids(struct cgroup *cg, pid_t **pids, int *n, struct ctl_err *e);
int cg_freeze(struct cgroup *cg, bool freeze, struct ctl_err *e);
int cg_is_frozen(struct cgroup *cg);
int cg_kill_all(struct cgroup *cg, int sig, struct ctl_err *e);
json_t *cg_stats(struct cgroup *cg); /* cgroups_stats.c */
/* dir/file's contents (malloc'd), NULL if unreadable */
char *cg_read(const char *dir, const char *file);
/* for cgroups_*.c: write dir/file; enable a controller down to leaf on v2 (field names the asker) */
int cg_write(const char *dir, const char *file, const char *val, struct ctl_err *e);
int cg_writef(const char *dir, const char *file, struct ctl_err *e, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int cg_v2_enable(struct cgroup *cg, const char *leaf, const char *controller, const char *field, struct ctl_err *e);
json_t *cg_to_json(struct cgroup *cg);
int cg_from_json(struct cgroup *cg, json_t *j, struct ctl_err *e);
int cg_mount_in_container(struct cgroup *cg, const char *dest, unsigned long flags, bool cgroupns, struct ctl_err *e);

#endif
