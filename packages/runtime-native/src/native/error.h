/* Errors and the runtime's log. Functions return a negative int on failure and fill a struct
 * ctl_err naming the syscall, the path and errno (crun style). */
#ifndef CTL_ERROR_H
#define CTL_ERROR_H

#include <errno.h>
#include <stdbool.h>

struct ctl_err {
  int errnum;     /* errno of the failing syscall, 0 for a validation error */
  char msg[1024]; /* "mount proc on /x/proc: Operation not permitted" */
};

/* Fill e with the formatted text (plus ": strerror(errnum)" when errnum != 0); returns -1. */
int ctl_fail(struct ctl_err *e, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prefix an existing error with context; returns -1. */
int ctl_wrap(struct ctl_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define SYSERR(e, call, path) ctl_fail((e), errno, "%s %s", (call), (path))

/* logging (--log, --log-format, --debug) */
void ctl_log_init(const char *path, bool json, bool debug);
void ctl_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define ctl_debug(...) ctl_log("debug", __VA_ARGS__)

#endif
