/* Container state on disk and the state machine of the verbs (state.c). */
#ifndef CTL_STATE_H
#define CTL_STATE_H

#include <stdbool.h>
#include <sys/types.h>
#include <jansson.h>
#include "cgroups.h"
#include "error.h"

#define CTL_OCI_VERSION "1.1.0"

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
  unsigned long long host_mount_id; /* the rootfs bind made in the caller's mount namespace, 0: none */
  char *dir;                        /* <root>/<id> */
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
unsigned long long proc_start_time(pid_t pid);

#endif
