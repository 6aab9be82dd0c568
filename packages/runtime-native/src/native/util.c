/* Errors, logging and small file helpers. */
#include "ctl.h"
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

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

void ctl_freep(void *p) { free(*(void **)p); }
void ctl_closep(int *fd) {
  if (*fd >= 0) close(*fd);
}
void ctl_json_decrefp(json_t **j) {
  if (*j) json_decref(*j);
}

void *xmalloc(size_t n) {
  void *p = calloc(1, n ? n : 1);
  if (!p) abort();
  return p;
}

char *xasprintf(const char *fmt, ...) {
  char *s;
  va_list ap;
  va_start(ap, fmt);
  if (vasprintf(&s, fmt, ap) < 0) abort();
  va_end(ap);
  return s;
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

int write_file(const char *path, const char *data, size_t len, struct ctl_err *e) {
  int fd = open(path, O_WRONLY | O_CLOEXEC | O_TRUNC);
  if (fd < 0) return SYSERR(e, "open", path);
  ssize_t w = write(fd, data, len);
  if (w < 0) {
    int saved = errno;
    close(fd);
    return ctl_fail(e, saved, "write %s to %.*s", path, (int)(len > 64 ? 64 : len), data);
  }
  close(fd);
  return 0;
}

int write_file_fmt(struct ctl_err *e, const char *path, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return write_file(path, buf, n, e);
}

int write_file_atomic(const char *path, const char *data, size_t len, struct ctl_err *e) {
  cleanup_free char *tmp = xasprintf("%s.tmp%d", path, getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return SYSERR(e, "open", tmp);
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(fd, data + off, len - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      int saved = errno;
      close(fd);
      unlink(tmp);
      return ctl_fail(e, saved, "write %s", tmp);
    }
    off += w;
  }
  if (fsync(fd) < 0) {
    int saved = errno;
    close(fd);
    unlink(tmp);
    return ctl_fail(e, saved, "fsync %s", tmp);
  }
  close(fd);
  if (rename(tmp, path) < 0) {
    int saved = errno;
    unlink(tmp);
    return ctl_fail(e, saved, "rename %s", path);
  }
  return 0;
}

ssize_t read_file(const char *path, char **out, struct ctl_err *e) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return SYSERR(e, "open", path);
  size_t cap = 4096, len = 0;
  char *buf = xmalloc(cap);
  for (;;) {
    if (len + 1 >= cap) {
      cap *= 2;
      buf = realloc(buf, cap);
      if (!buf) abort();
    }
    ssize_t r = read(fd, buf + len, cap - len - 1);
    if (r < 0) {
      if (errno == EINTR) continue;
      int saved = errno;
      close(fd);
      free(buf);
      return ctl_fail(e, saved, "read %s", path);
    }
    if (r == 0) break;
    len += r;
  }
  close(fd);
  buf[len] = 0;
  *out = buf;
  return len;
}

int mkdir_p(const char *path, mode_t mode, struct ctl_err *e) {
  cleanup_free char *p = strdup(path);
  for (char *s = p + 1; *s; s++) {
    if (*s != '/') continue;
    *s = 0;
    if (mkdir(p, mode) < 0 && errno != EEXIST) return SYSERR(e, "mkdir", p);
    *s = '/';
  }
  if (mkdir(p, mode) < 0 && errno != EEXIST) return SYSERR(e, "mkdir", p);
  return 0;
}

/* Remove a state directory (regular files and fifos only, one level). */
int safe_rmdir_r(const char *path) {
  DIR *d = opendir(path);
  if (!d) return errno == ENOENT ? 0 : -1;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    unlinkat(dirfd(d), de->d_name, 0);
  }
  closedir(d);
  return rmdir(path);
}
