/* kill: a signal to the init, or with --all to every process in the container's cgroup. */
#include "commands.h"
#include "error.h"
#include "cgroups.h"
#include "state.h"
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <stdio.h>

int parse_signal(const char *s) {
  static const struct {
    const char *n;
    int sig;
  } SIGS[] = {{"HUP", SIGHUP},       {"INT", SIGINT},   {"QUIT", SIGQUIT},   {"ILL", SIGILL},   {"TRAP", SIGTRAP}, {"ABRT", SIGABRT},
              {"BUS", SIGBUS},       {"FPE", SIGFPE},   {"KILL", SIGKILL},   {"USR1", SIGUSR1}, {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},
              {"PIPE", SIGPIPE},     {"ALRM", SIGALRM}, {"TERM", SIGTERM},   {"CHLD", SIGCHLD}, {"CONT", SIGCONT}, {"STOP", SIGSTOP},
              {"TSTP", SIGTSTP},     {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},   {"URG", SIGURG},   {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},
              {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},     {"PWR", SIGPWR},   {"SYS", SIGSYS}};
  if (!s) return SIGTERM;
  char *end;
  long n = strtol(s, &end, 10);
  if (*s && !*end) return n > 0 && n < NSIG ? (int)n : -1;
  if (!strncasecmp(s, "SIG", 3)) s += 3;
  for (size_t i = 0; i < sizeof SIGS / sizeof *SIGS; i++)
    if (!strcasecmp(s, SIGS[i].n)) return SIGS[i].sig;
  return -1;
}

int cmd_kill(struct gopts *g, const char *id, const char *signame, bool all, struct ctl_err *e) {
  int sig = parse_signal(signame);
  if (sig < 0) return ctl_fail(e, 0, "unknown signal \"%s\"", signame);
  struct state st;
  if (state_load(g->root, id, &st, e) < 0) return -1;
  int r = 0;
  enum status s = state_status(&st);
  if (!all && state_allow(V_KILL, s, id, e) < 0) {
    r = -1;
  } else if (all && st.has_cg) {
    r = cg_kill_all(&st.cg, sig, e);
  } else if (kill(st.pid, sig) < 0) {
    r = ctl_fail(e, errno, "kill %d (container %s)", st.pid, id);
  }
  state_free(&st);
  return r;
}
