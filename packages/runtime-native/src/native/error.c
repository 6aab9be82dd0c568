/* Errors (struct ctl_err) and the runtime's log (--log, --log-format json|text, --debug). */
#include "error.h"
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include "clock.h"
#include "util.h"

enum ctl_kind ctl_kind_of_errno(int errnum) {
  switch (errnum) {
  case 0:
  case EINVAL:
    return CTL_KIND_INVALID_ARGUMENT;
  case ENOENT:
    return CTL_KIND_NOT_FOUND;
  case EEXIST:
    return CTL_KIND_ALREADY_EXISTS;
  case EBUSY:
    return CTL_KIND_FAILED_PRECONDITION;
  case EPERM:
  case EACCES:
    return CTL_KIND_PERMISSION_DENIED;
  case ENOSPC:
  case EDQUOT:
  case ENOMEM:
  case EMFILE:
  case ENFILE:
  case EAGAIN:
    return CTL_KIND_RESOURCE_EXHAUSTED;
  default:
    return CTL_KIND_INTERNAL;
  }
}

const char *ctl_kind_name(enum ctl_kind kind) {
  switch (kind) {
  case CTL_KIND_INVALID_ARGUMENT:
  case CTL_KIND_USAGE:
    return "InvalidArgument";
  case CTL_KIND_FAILED_PRECONDITION:
    return "FailedPrecondition";
  case CTL_KIND_RESOURCE_EXHAUSTED:
    return "ResourceExhausted";
  case CTL_KIND_NOT_FOUND:
    return "NotFound";
  case CTL_KIND_ALREADY_EXISTS:
    return "AlreadyExists";
  case CTL_KIND_PERMISSION_DENIED:
    return "PermissionDenied";
  default:
    return "Internal";
  }
}

static void vfail(struct ctl_err *e, enum ctl_kind kind, int errnum, const char *fmt, va_list ap) {
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  e->errnum = errnum;
  e->kind = kind;
  e->reason = CTL_REASON_NONE;
  if (errnum) {
    size_t l = strlen(e->msg);
    snprintf(e->msg + l, sizeof e->msg - l, ": %s", strerror(errnum));
  }
}

int ctl_fail(struct ctl_err *e, int errnum, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(e, ctl_kind_of_errno(errnum), errnum, fmt, ap);
  va_end(ap);
  return -1;
}

int ctl_fail_kind(struct ctl_err *e, enum ctl_kind kind, int errnum, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(e, kind, errnum, fmt, ap);
  va_end(ap);
  return -1;
}

int ctl_wrap(struct ctl_err *e, const char *fmt, ...) {
  char prefix[512], old[sizeof e->msg];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, e->msg, sizeof old);
  snprintf(e->msg, sizeof e->msg, "%s: %s", prefix, old);
  return -1;
}

static int log_fd = -1;
static bool log_json = false;
static bool log_debug = false;

void ctl_log_init(const char *path, bool json, bool debug) {
  log_json = json;
  log_debug = debug;
  if (path) log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

/* kind (and reason, when there is one): NULL except for the command's failure (ctl_log_error) */
static void log_line(const char *level, const char *kind, const char *reason, const char *msg) {
  char t[64];
  bool is_err = strcmp(level, "error") == 0;
  if (is_err)
    fprintf(stderr, "ctl-runtime: %s\n", msg);
  else if (log_debug && log_fd < 0)
    fprintf(stderr, "ctl-runtime: %s: %s\n", level, msg);
  if (log_fd < 0) return;
  ctl_rfc3339(t, sizeof t);
  char *line = NULL;
  if (log_json) {
    json_t *o = json_pack("{s:s,s:s,s:s}", "level", level, "msg", msg, "time", t);
    if (kind) json_object_set_new(o, "kind", json_string(kind));
    if (reason) json_object_set_new(o, "reason", json_string(reason));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    line = xasprintf("%s\n", s);
    free(s);
    json_decref(o);
  } else if (kind) {
    line = xasprintf("time=\"%s\" level=%s msg=\"%s\" kind=%s%s%s\n", t, level, msg, kind, reason ? " reason=" : "", reason ? reason : "");
  } else {
    line = xasprintf("time=\"%s\" level=%s msg=\"%s\"\n", t, level, msg);
  }
  if (write(log_fd, line, strlen(line)) < 0) { /* nothing better to do */
  }
  free(line);
}

void ctl_log(const char *level, const char *fmt, ...) {
  char msg[2048];
  va_list ap;
  if (strcmp(level, "debug") == 0 && !log_debug) return;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  log_line(level, NULL, NULL, msg);
}

static const char *reason_name(enum ctl_reason reason) {
  switch (reason) {
  case CTL_REASON_COMMAND_NOT_FOUND:
    return "CommandNotFound";
  case CTL_REASON_COMMAND_NOT_EXECUTABLE:
    return "CommandNotExecutable";
  default:
    return NULL;
  }
}

void ctl_log_error(const struct ctl_err *e) { log_line("error", ctl_kind_name(e->kind), reason_name(e->reason), e->msg); }
