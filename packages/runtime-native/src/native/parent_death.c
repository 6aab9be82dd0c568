/* See parent_death.h. */
#define _GNU_SOURCE
#include "parent_death.h"
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

int ctl_die_with_parent(pid_t expected) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) return -1;
  if (getppid() != expected) {
    errno = ESRCH;
    return -1;
  }
  return 0;
}

pid_t ctl_parent_pid_arg(const char *text) {
  char *end;
  long pid = strtol(text, &end, 10);
  return *text && !*end && pid > 0 && pid <= 0x7fffffff ? (pid_t)pid : 0;
}
