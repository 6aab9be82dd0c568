/* Errors and the runtime's log. Functions return a negative int on failure and fill a struct
 * ctl_err naming the syscall, the path and errno (crun style). */
#ifndef CTL_ERROR_H
#define CTL_ERROR_H

#include <errno.h>
#include <stdbool.h>
#include "kinds.h"

/* Finer than a kind, for the engine to act on (proto's ErrorReason, of the same names): the JSON
 * log's "reason" field. Set after ctl_fail, which clears it. */
enum ctl_reason {
  CTL_REASON_NONE = 0,
  CTL_REASON_COMMAND_NOT_FOUND,      /* process.args[0] does not exist (docker's 127) */
  CTL_REASON_COMMAND_NOT_EXECUTABLE, /* it exists but cannot be executed (docker's 126) */
};

struct ctl_err {
  int errnum;             /* errno of the failing syscall, 0 for a validation error */
  enum ctl_kind kind;     /* what ctl-runtime exits with (kinds.h) */
  enum ctl_reason reason; /* CTL_REASON_NONE unless a caller sets one */
  char msg[1024];         /* "mount proc on /x/proc: Operation not permitted" */
};

/* Fill e with the formatted text (plus ": strerror(errnum)" when errnum != 0); returns -1.
 * The kind follows errnum (ctl_kind_of_errno); errnum 0, a validation error, is InvalidArgument. */
int ctl_fail(struct ctl_err *e, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same with the kind given: for what errno cannot tell (no such container, a refused state). */
int ctl_fail_kind(struct ctl_err *e, enum ctl_kind kind, int errnum, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
enum ctl_kind ctl_kind_of_errno(int errnum);
/* The engine's name of a kind ("NotFound"), as the JSON log's "kind" field carries it. */
const char *ctl_kind_name(enum ctl_kind kind);
/* Prefix an existing error with context (its kind stays); returns -1. */
int ctl_wrap(struct ctl_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define SYSERR(e, call, path) ctl_fail((e), errno, "%s %s", (call), (path))

/* logging (--log, --log-format, --debug) */
void ctl_log_init(const char *path, bool json, bool debug);
void ctl_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define ctl_debug(...) ctl_log("debug", __VA_ARGS__)
/* The failure of the command: stderr, and the log with its kind. */
void ctl_log_error(const struct ctl_err *e);

#endif
