/* The verbs of ctl-runtime's command line (create.c, start.c, kill.c, delete.c, exec.c, ops.c);
 * main.c parses the flags into these. */
#ifndef CTL_COMMANDS_H
#define CTL_COMMANDS_H

#include <stdbool.h>
#include <jansson.h>
#include "error.h"

#define CTL_DEFAULT_ROOT "/run/ctl/runtime"

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
  bool run; /* create+start+wait (the run verb) */
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

#endif
