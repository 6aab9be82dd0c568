/* ctl-runtime: shared declarations. Functions return a negative int on failure and fill a
 * struct ctl_err naming the syscall, the path and errno (crun style). */
#ifndef CTL_H
#define CTL_H

#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>
#include <jansson.h>
#include "clock.h"
#include "json.h"

#define CTL_OCI_VERSION "1.1.0"
#define CTL_DEFAULT_ROOT "/run/ctl/runtime"

struct ctl_err {
  int errnum;      /* errno of the failing syscall, 0 for a validation error */
  char msg[1024];  /* "mount proc on /x/proc: Operation not permitted" */
};

/* Fill e with the formatted text (plus ": strerror(errnum)" when errnum != 0); returns -1. */
int ctl_fail(struct ctl_err *e, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prefix an existing error with context; returns -1. */
int ctl_wrap(struct ctl_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define SYSERR(e, call, path) ctl_fail((e), errno, "%s %s", (call), (path))

/* cleanup attributes free what an early return leaves */
void ctl_freep(void *p);
void ctl_closep(int *fd);
void ctl_json_decrefp(json_t **j);
#define cleanup_free __attribute__((cleanup(ctl_freep)))
#define cleanup_close __attribute__((cleanup(ctl_closep)))
#define cleanup_json __attribute__((cleanup(ctl_json_decrefp)))

/* logging (--log, --log-format, --debug) */
void ctl_log_init(const char *path, bool json, bool debug);
void ctl_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define ctl_debug(...) ctl_log("debug", __VA_ARGS__)

/* small file helpers */
int write_file(const char *path, const char *data, size_t len, struct ctl_err *e);
int write_file_fmt(struct ctl_err *e, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int write_file_atomic(const char *path, const char *data, size_t len, struct ctl_err *e);
/* read a whole (small) file into a malloc'd NUL-terminated buffer; returns length or -1 */
ssize_t read_file(const char *path, char **out, struct ctl_err *e);
int mkdir_p(const char *path, mode_t mode, struct ctl_err *e);
int safe_rmdir_r(const char *path);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void *xmalloc(size_t n);

/* ---- spec.c: config.json loading and validation ---- */
json_t *spec_load(const char *bundle, struct ctl_err *e);
int spec_validate_process(json_t *process, const char *where, struct ctl_err *e);
int rlimit_from_name(const char *name);

/* ---- hooks.c ---- */
int hooks_run(json_t *spec, const char *kind, json_t *state, struct ctl_err *e);
json_t *spec_load_unchecked(const char *bundle);

/* ---- namespaces.c ---- */
enum { NS_USER, NS_MNT, NS_PID, NS_NET, NS_IPC, NS_UTS, NS_CGROUP, NS_TIME, NS_COUNT };
struct ns_plan {
  int new_flags;              /* CLONE_NEW* to unshare */
  char *join[NS_COUNT];       /* paths to setns, NULL if none */
  bool has[NS_COUNT];         /* namespace is configured (new or joined) */
};
int ns_type_from_name(const char *name);
const char *ns_name(int type);
int ns_clone_flag(int type);
int ns_plan_from_spec(json_t *spec, struct ns_plan *p, struct ctl_err *e);
int ns_plan_for_pid(pid_t pid, struct ns_plan *p, struct ctl_err *e);
void ns_plan_free(struct ns_plan *p);
int ns_join(struct ns_plan *p, bool user_only, bool skip_user, struct ctl_err *e);
int ns_write_id_maps(pid_t pid, json_t *spec, struct ctl_err *e);

/* ---- cgroups.c ---- */
enum cg_mode { CG_V1, CG_V2, CG_HYBRID };
struct cgroup {
  enum cg_mode mode;
  char *path;               /* cgroupsPath, e.g. /ctl/<id> */
  int n;
  char *ctrl[16];           /* controller names ("memory", "cpu,cpuacct", "unified") */
  char *dir[16];            /* absolute directory of this container's cgroup in each hierarchy */
  char *opts[16];           /* v1 mount options naming the hierarchy (cpu, name=systemd) */
  char *created[48];        /* directories we made (deepest last) */
  int ncreated;
};
int cg_detect(enum cg_mode *mode, struct ctl_err *e);
int cg_init(struct cgroup *cg, const char *cgpath, struct ctl_err *e);
int cg_create(struct cgroup *cg, struct ctl_err *e);
int cg_apply(struct cgroup *cg, json_t *resources, struct ctl_err *e);
int cg_enter(struct cgroup *cg, pid_t pid, struct ctl_err *e);
int cg_destroy(struct cgroup *cg, struct ctl_err *e);
void cg_free(struct cgroup *cg);
const char *cg_dir(struct cgroup *cg, const char *controller);
int cg_pids(struct cgroup *cg, pid_t **pids, int *n, struct ctl_err *e);
int cg_freeze(struct cgroup *cg, bool freeze, struct ctl_err *e);
int cg_is_frozen(struct cgroup *cg);
int cg_kill_all(struct cgroup *cg, int sig, struct ctl_err *e);
json_t *cg_stats(struct cgroup *cg);
json_t *cg_to_json(struct cgroup *cg);
int cg_from_json(struct cgroup *cg, json_t *j, struct ctl_err *e);
int cg_mount_in_container(struct cgroup *cg, const char *dest, unsigned long flags, bool cgroupns, struct ctl_err *e);

/* ---- mounts.c ---- */
struct mount_ctx {
  json_t *spec;
  const char *bundle;
  struct cgroup *cg;
  const char *rootfs;       /* absolute host path */
  bool userns;
  bool cgroupns;
  bool no_pivot;
  bool terminal;
};
int mounts_prepare_rootfs(struct mount_ctx *m, struct ctl_err *e);   /* before pivot */
int mounts_pivot(struct mount_ctx *m, struct ctl_err *e);
int mounts_finalize(struct mount_ctx *m, struct ctl_err *e);         /* masked/readonly/ro root */
int mount_console(const char *slave_path, struct ctl_err *e);
unsigned long mount_parse_options(json_t *options, char **data, unsigned long *propagation, bool *bind, bool *rec);

/* ---- caps.c ---- */
int caps_parse(json_t *caps, unsigned long long out[5], struct ctl_err *e); /* b,e,i,p,a */
int caps_drop_bounding(unsigned long long bounding, struct ctl_err *e);
int caps_apply(unsigned long long sets[5], struct ctl_err *e);
int cap_from_name(const char *name);

/* ---- seccomp.c ---- */
/* In the parent, before the fork: the filter compiled (or read from cache_dir's cache). */
int seccomp_prepare(json_t *seccomp, const char *cache_dir, struct ctl_err *e);
/* In the container's process: the prepared filter, else one compiled now. */
int seccomp_apply(json_t *seccomp, struct ctl_err *e);

/* ---- process.c: the steps a process takes between setup and execve ---- */
int proc_set_rlimits(json_t *process, struct ctl_err *e);
int proc_set_oom_score_adj(json_t *process, struct ctl_err *e);
int proc_set_apparmor(json_t *process, struct ctl_err *e);
int proc_set_sched(json_t *process, struct ctl_err *e);
int proc_finalize_user_caps(json_t *process, json_t *spec, struct ctl_err *e);
char *proc_lookup_path(json_t *process, struct ctl_err *e);
void proc_exec(json_t *process, const char *resolved) __attribute__((noreturn));
int proc_open_console(int sockfd, json_t *process, bool bind_console, struct ctl_err *e);
int console_socket_connect(const char *path, struct ctl_err *e);

/* ---- state.c ---- */
struct state {
  char *id;
  char *bundle;
  char *rootfs;
  char *created;
  pid_t pid;
  unsigned long long start_time;
  json_t *annotations;
  struct cgroup cg;
  bool has_cg;
  char *dir;              /* <root>/<id> */
};
enum status { ST_CREATING, ST_CREATED, ST_RUNNING, ST_PAUSED, ST_STOPPED };
int state_id_valid(const char *id, struct ctl_err *e);
char *state_dir(const char *root, const char *id);
int state_load(const char *root, const char *id, struct state *s, struct ctl_err *e);
int state_save(struct state *s, struct ctl_err *e);
void state_free(struct state *s);
enum status state_status(struct state *s);
const char *status_name(enum status st);
/* The state machine: which verb may act on a container in which status (one table, state.c).
 * Returns 0 or fills e with runc's message for the refusal. */
enum verb { V_START, V_KILL, V_DELETE, V_FORCE_DELETE, V_EXEC, V_PAUSE, V_RESUME, V_UPDATE };
int state_allow(enum verb v, enum status st, const char *id, struct ctl_err *e);
json_t *state_to_oci_json(struct state *s);
/* Runs the hooks of one kind whose failure must not fail the operation (poststart, poststop):
 * a failure is logged as a warning. Does nothing when spec is NULL or has no hooks. */
void hooks_run_warn(json_t *spec, const char *kind, struct state *st);
unsigned long long proc_start_time(pid_t pid);

/* ---- verbs ---- */
struct gopts {
  const char *root;
  bool systemd_cgroup;
};
struct create_opts {
  const char *bundle;
  const char *pid_file;
  const char *console_socket;
  bool no_pivot;
  bool no_new_keyring;
  bool run;             /* create+start+wait (the run verb) */
  bool detach;
};
int cmd_create(struct gopts *g, const char *id, struct create_opts *o, struct ctl_err *e);
int cmd_start(struct gopts *g, const char *id, struct ctl_err *e);
int cmd_run(struct gopts *g, const char *id, struct create_opts *o, struct ctl_err *e);
int cmd_kill(struct gopts *g, const char *id, const char *sig, bool all, struct ctl_err *e);
int cmd_delete(struct gopts *g, const char *id, bool force, struct ctl_err *e);
struct exec_opts {
  const char *process_file;
  const char *pid_file;
  const char *console_socket;
  const char *cwd;
  bool detach;
  bool tty;
  char **args;
  int nargs;
  char **env;
  int nenv;
};
int cmd_exec(struct gopts *g, const char *id, struct exec_opts *o, struct ctl_err *e);
int cmd_state(struct gopts *g, const char *id, struct ctl_err *e);
int cmd_ps(struct gopts *g, const char *id, const char *format, struct ctl_err *e);
int cmd_pause(struct gopts *g, const char *id, bool pause, struct ctl_err *e);
int cmd_update(struct gopts *g, const char *id, json_t *resources, struct ctl_err *e);
int cmd_list(struct gopts *g, const char *format, bool quiet, struct ctl_err *e);
int cmd_events(struct gopts *g, const char *id, bool stats, const char *cgroup, struct ctl_err *e);
int parse_signal(const char *s);

/* ---- spawn.c: the two-stage fork shared by create and exec ----
 * stage 1 joins namespaces by path, unshares the new ones (asking the parent for the user
 * namespace id maps) and forks stage 2, which is the container process: pid 1 of a new pid
 * namespace for create. Stage 2 reports READY (or an error record) before it waits/execs. */
struct spawn {
  json_t *spec;
  json_t *process;
  struct ns_plan plan;
  struct cgroup *cg;        /* NULL: no cgroup to join */
  struct mount_ctx mctx;
  bool is_exec;
  bool no_new_keyring;
  int fifo_fd;              /* O_PATH exec.fifo, -1: exec without waiting for start */
  int console_fd;           /* connected --console-socket, -1 if none */
  const char *cache_dir;    /* the runtime's --root, where compiled seccomp filters are kept */
};
int spawn_process(struct spawn *sp, pid_t *pid, struct ctl_err *e);

/* ---- sync.c: the parent <-> child protocol during create/exec ---- */
enum sync_type { SYNC_GO = 1, SYNC_USERMAP, SYNC_USERMAP_DONE, SYNC_PID, SYNC_READY, SYNC_ERROR };
struct sync_msg {
  int type;
  pid_t pid;
  struct ctl_err err;
};
int sync_send(int fd, int type, pid_t pid, const struct ctl_err *err);
int sync_recv(int fd, struct sync_msg *m);   /* 0 on EOF, 1 on a message, -1 on error */
void sync_child_fail(int fd, struct ctl_err *e) __attribute__((noreturn));

#endif
