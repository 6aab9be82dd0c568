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

int ctl_fail(struct ctl_err *e, int errnum, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  e->errnum = errnum;
  if (errnum) {
    size_t l = strlen(e->msg);
    snprintf(e->msg + l, sizeof e->msg - l, ": %s", strerror(errnum));
  }
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

void ctl_log(const char *level, const char *fmt, ...) {
  char msg[2048], t[64];
  va_list ap;
  bool is_err = strcmp(level, "error") == 0;
  if (!is_err && strcmp(level, "debug") == 0 && !log_debug) return;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (is_err) fprintf(stderr, "ctl-runtime: %s\n", msg);
  else if (log_debug && log_fd < 0) fprintf(stderr, "ctl-runtime: %s: %s\n", level, msg);
  if (log_fd < 0) return;
  ctl_rfc3339(t, sizeof t);
  char *line = NULL;
  if (log_json) {
    json_t *o = json_pack("{s:s,s:s,s:s}", "level", level, "msg", msg, "time", t);
    char *s = json_dumps(o, JSON_COMPACT);
    line = xasprintf("%s\n", s);
    free(s);
    json_decref(o);
  } else {
    line = xasprintf("time=\"%s\" level=%s msg=\"%s\"\n", t, level, msg);
  }
  if (write(log_fd, line, strlen(line)) < 0) { /* nothing better to do */ }
  free(line);
}
