/* exec: run an extra process in a running container's namespaces and cgroup. */
#include "commands.h"
#include "util.h"
#include "error.h"
#include "json.h"
#include "spec.h"
#include "namespaces.h"
#include "process.h"
#include "state.h"
#include "spawn.h"
#include <unistd.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>

static int write_pid_file(const char *path, pid_t pid, struct ctl_err *e) {
  char buf[32];
  int n = snprintf(buf, sizeof buf, "%d", pid);
  return write_file_atomic(path, buf, n, e);
}

/* --process FILE, or the container's own process with args/env/cwd/tty from the command line */
static json_t *exec_process(json_t *spec, struct exec_opts *o, struct ctl_err *e) {
  json_t *p;
  if (o->process_file) {
    json_error_t jerr;
    p = json_load_file(o->process_file, 0, &jerr);
    if (!p) {
      ctl_fail(e, 0, "--process %s: %s (line %d)", o->process_file, jerr.text, jerr.line);
      return NULL;
    }
  } else {
    if (o->nargs == 0) {
      ctl_fail(e, 0, "exec: a command (or --process) is required");
      return NULL;
    }
    p = json_deep_copy(json_object_get(spec, "process"));
    if (!p) p = json_object();
    json_t *args = json_array();
    for (int i = 0; i < o->nargs; i++) json_array_append_new(args, json_string(o->args[i]));
    json_object_set_new(p, "args", args);
    json_t *env = json_object_get(p, "env");
    if (!env) json_object_set_new(p, "env", env = json_array());
    for (int i = 0; i < o->nenv; i++) json_array_append_new(env, json_string(o->env[i]));
    if (o->cwd) json_object_set_new(p, "cwd", json_string(o->cwd));
    json_object_set_new(p, "terminal", json_boolean(o->tty));
  }
  if (!json_object_get(p, "cwd")) json_object_set_new(p, "cwd", json_string("/"));
  if (spec_validate_process(p, "process", e) < 0) {
    json_decref(p);
    return NULL;
  }
  return p;
}

int cmd_exec(struct gopts *g, const char *id, struct exec_opts *o, struct ctl_err *e) {
  struct state st;
  if (state_load(g->root, id, &st, e) < 0) return -1;
  int r = -1;
  json_t *spec = NULL, *process = NULL;
  struct spawn sp = {.fifo_fd = -1, .console_fd = -1, .is_exec = true};
  enum status s = state_status(&st);
  if (state_allow(V_EXEC, s, id, e) < 0) goto out;
  spec = spec_load(st.bundle, e);
  if (!spec) goto out;
  process = exec_process(spec, o, e);
  if (!process) goto out;
  if (jbool(process, "terminal") && !o->console_socket) {
    ctl_fail(e, 0, "process.terminal is true: --console-socket is required");
    goto out;
  }
  if (ns_plan_for_pid(st.pid, &sp.plan, e) < 0) goto out;
  /* a container in our mount namespace has its root only as its init's root directory */
  char root[64];
  snprintf(root, sizeof root, "/proc/%d/root", st.pid);
  if (!sp.plan.join[NS_MNT]) sp.exec_root = root;
  sp.spec = spec;
  sp.process = process;
  sp.cg = st.has_cg ? &st.cg : NULL;
  if (o->console_socket && jbool(process, "terminal") && (sp.console_fd = console_socket_connect(o->console_socket, e)) < 0) goto out;
  if (!o->detach) prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  pid_t pid;
  sp.cache_dir = g->root;
  if (spawn_process(&sp, &pid, e) < 0) goto out;
  if (o->pid_file && write_pid_file(o->pid_file, pid, e) < 0) {
    kill(pid, SIGKILL);
    goto out;
  }
  if (o->detach) {
    r = 0;
    goto out;
  }
  int status;
  for (;;) {
    pid_t w = waitpid(-1, &status, __WALL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      r = 255;
      break;
    }
    if (w == pid) {
      r = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
  }
out:
  if (sp.console_fd >= 0) close(sp.console_fd);
  ns_plan_free(&sp.plan);
  if (process) json_decref(process);
  if (spec) json_decref(spec);
  state_free(&st);
  return r;
}
