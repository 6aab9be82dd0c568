/* The steps a process takes between setup and execve, and its console (process.c). */
#ifndef CTL_PROCESS_H
#define CTL_PROCESS_H

#include <stdbool.h>
#include <jansson.h>
#include "error.h"

int proc_set_rlimits(json_t *process, struct ctl_err *e);
int proc_set_oom_score_adj(json_t *process, struct ctl_err *e);
int proc_set_apparmor(json_t *process, struct ctl_err *e);
int proc_set_sched(json_t *process, struct ctl_err *e);
int proc_finalize_user_caps(json_t *process, json_t *spec, struct ctl_err *e);
char *proc_lookup_path(json_t *process, struct ctl_err *e);
void proc_exec(json_t *process, const char *resolved) __attribute__((noreturn));
int proc_open_console(int sockfd, json_t *process, bool bind_console, struct ctl_err *e);
int console_socket_connect(const char *path, struct ctl_err *e);

#endif
