/* Namespaces: which to create or join, and joining them (namespaces.c). */
#ifndef CTL_NAMESPACES_H
#define CTL_NAMESPACES_H

#include <stdbool.h>
#include <sys/types.h>
#include <jansson.h>
#include "error.h"

enum { NS_USER, NS_MNT, NS_PID, NS_NET, NS_IPC, NS_UTS, NS_CGROUP, NS_TIME, NS_COUNT };
struct ns_plan {
  int new_flags;        /* CLONE_NEW* to unshare */
  char *join[NS_COUNT]; /* paths to setns, NULL if none */
  bool has[NS_COUNT];   /* namespace is configured (new or joined) */
};
int ns_type_from_name(const char *name);
const char *ns_name(int type);
int ns_clone_flag(int type);
int ns_plan_from_spec(json_t *spec, struct ns_plan *p, struct ctl_err *e);
int ns_plan_for_pid(pid_t pid, struct ns_plan *p, struct ctl_err *e);
void ns_plan_free(struct ns_plan *p);
/* path names the namespace of this type that we are in already */
bool ns_is_current(int type, const char *path);
int ns_join(struct ns_plan *p, bool user_only, bool skip_user, struct ctl_err *e);
int ns_write_id_maps(pid_t pid, json_t *spec, struct ctl_err *e);
/* Brings up `lo` in the network namespace we are in (a new one starts with it down). */
int ns_loopback_up(struct ctl_err *e);

#endif
