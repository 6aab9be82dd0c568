/* Cleanup helpers, allocation and small file helpers. */
#include "util.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

void ctl_freep(void *p) { free(*(void **)p); }
void ctl_closep(int *fd) {
  if (*fd >= 0) close(*fd);
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
  char *buf;
  va_list ap;
  va_start(ap, fmt);
  int n = vasprintf(&buf, fmt, ap);
  va_end(ap);
  if (n < 0) abort();
  int r = write_file(path, buf, n, e);
  free(buf);
  return r;
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
