/* Helpers that die with the daemon: ctl-launch, what it runs for the daemon, ctl-apply and ctl-diff.
 * A helper the daemon started must not outlive it: an orphaned ctl-apply went on writing a 2 GiB
 * layer into a snapshot that the next daemon could not collect while the import's lease held it.
 * The shims are the exception: they must survive a daemon restart, so nothing here touches them. */
#ifndef CTL_PARENT_DEATH_H
#define CTL_PARENT_DEATH_H

#include <sys/types.h>

/* Asks the kernel for SIGKILL when the thread that forked this process exits (PR_SET_PDEATHSIG),
 * then checks that the parent is still `expected`: if it died before the request, the process has
 * been re-parented already and the signal would never come. 0, or -1 with errno (ESRCH: the parent
 * is gone; the caller should exit). */
int ctl_die_with_parent(pid_t expected);

/* The value of `--die-with-parent PID`: the pid, or 0 when the text is not a positive number. */
pid_t ctl_parent_pid_arg(const char *text);

#endif
