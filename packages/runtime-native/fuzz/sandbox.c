/* The sandbox of the fuzz harnesses.
 *
 * The process gets its own mount namespace and a tmpfs mounted nodev there: a device node a
 * layer makes (8:0, 1:1, ...) cannot be opened, so a bug that writes through one reaches no real
 * device, and nothing stays mounted when the process ends. Beside the work dirs (where layers go)
 * lies a sentinel tree: files, a directory, a hardlinked pair (a link made to it changes its
 * nlink) and symlinks pointing out of the work dirs and out of the sandbox. Each input is applied
 * chrooted into a work dir, as ctl-apply does; afterwards the sentinel tree, the names in the real
 * "/" and the set of open fds must be as they were, or the harness aborts: an escape is a crash. */
#include "../src/native/apply_common.h" /* first: it defines _GNU_SOURCE */
#include "sandbox.h"

#include <dirent.h>
#include <fcntl.h>
#include <locale.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* In this process's own mount namespace the tmpfs covers /srv (FHS, empty on Debian), which exists: a path
 * that exists, so nothing is made on the host that a crashed run (libFuzzer ends with _Exit) would leave. */
static const char sandbox[] = "/srv";
static char fresh_path[4096];
static int real_root = -1, start_cwd = -1; /* libFuzzer opens paths relative to its cwd */
static char *baseline, *fds_before;

static void fatal(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "fuzz sandbox: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  abort();
}

static void append(char **buf, size_t *len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *line;
  int n = vasprintf(&line, fmt, ap);
  va_end(ap);
  if (n < 0 || !(*buf = realloc(*buf, *len + (size_t)n + 1))) abort();
  memcpy(*buf + *len, line, (size_t)n + 1);
  *len += (size_t)n;
  free(line);
}

/* One line per entry under dir (sorted), "work" at the top skipped: type, mode, owner, size, links, mtime, link target. */
static void describe_tree(const char *dir, const char *rel, char **buf, size_t *len) {
  struct dirent **names;
  int n = scandir(dir, &names, NULL, alphasort);
  if (n < 0) fatal("scandir %s: %m", dir);
  for (int i = 0; i < n; i++) {
    const char *name = names[i]->d_name;
    if (strcmp(name, ".") && strcmp(name, "..") && !(!*rel && !strcmp(name, "work"))) {
      char path[4096], relpath[4096];
      snprintf(path, sizeof path, "%s/%s", dir, name);
      snprintf(relpath, sizeof relpath, "%s/%s", rel, name);
      struct stat st;
      if (lstat(path, &st) < 0) fatal("lstat %s: %m", path);
      char target[4096] = "";
      if (S_ISLNK(st.st_mode) && readlink(path, target, sizeof target - 1) < 0) fatal("readlink %s: %m", path);
      append(buf, len, "%s %o %u:%u %lld %lu %lld.%09ld %s\n", relpath, st.st_mode, st.st_uid, st.st_gid, (long long)st.st_size,
             (unsigned long)st.st_nlink, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec, target);
      if (S_ISDIR(st.st_mode)) describe_tree(path, relpath, buf, len);
    }
    free(names[i]);
  }
  free(names);
}

/* The open fds; libFuzzer opens its own between inputs, so this is compared within one input. */
static char *describe_fds(void) {
  char *buf = NULL;
  size_t len = 0;
  DIR *fds = opendir("/proc/self/fd");
  if (!fds) fatal("opendir /proc/self/fd: %m");
  for (struct dirent *de; (de = readdir(fds));)
    if (atoi(de->d_name) != dirfd(fds) && strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) append(&buf, &len, "fd %s\n", de->d_name);
  closedir(fds);
  return buf;
}

/* What must not change: the sandbox outside its work dirs, the real root's names. */
static char *describe(void) {
  char *buf = NULL;
  size_t len = 0;
  describe_tree(sandbox, "", &buf, &len);
  struct dirent **names;
  int n = scandir("/", &names, NULL, alphasort);
  if (n < 0) fatal("scandir /: %m");
  for (int i = 0; i < n; i++) {
    append(&buf, &len, "/%s\n", names[i]->d_name);
    free(names[i]);
  }
  free(names);
  return buf;
}

static void make(const char *rel, const char *content) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", sandbox, rel);
  if (!content) {
    if (mkdir(path, 0755) < 0) fatal("mkdir %s: %m", path);
    return;
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0 || write(fd, content, strlen(content)) != (ssize_t)strlen(content) || close(fd) < 0) fatal("write %s: %m", path);
}

static void make_link(const char *rel, const char *target, bool hard) {
  char path[4096], from[4096];
  snprintf(path, sizeof path, "%s/%s", sandbox, rel);
  snprintf(from, sizeof from, "%s/%s", sandbox, target);
  if ((hard ? link(from, path) : symlink(target, path)) < 0) fatal("link %s: %m", path);
}

void sandbox_init(const char *name) {
  if (geteuid() != 0) fatal("%s needs root (chroot, chown, mknod)", name);
  if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) fatal("private mount namespace: %m");
  if (mount("tmpfs", sandbox, "tmpfs", MS_NODEV | MS_NOSUID, "size=512m,mode=0755") < 0) fatal("mount tmpfs %s: %m", sandbox);
  make("work", NULL);
  make("sentinel", NULL);
  make("sentinel/secret", SANDBOX_SECRET "\n");
  make("sentinel/dir", NULL);
  make("sentinel/dir/inner", "inner\n");
  make_link("sentinel/secret-link", "sentinel/secret", true);
  make_link("sentinel/to-work", "../work", false);
  make_link("sentinel/to-root", "/", false);
  make_link("sentinel/to-passwd", "/etc/passwd", false);
  make("etc", NULL); /* what an absolute /etc/x would reach if the chroot were the sandbox */
  make("etc/passwd", "root:x:0:0::/root:/bin/sh\n");
  if ((real_root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) fatal("open /: %m");
  if ((start_cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) fatal("open .: %m");
  setlocale(LC_ALL, "C.UTF-8");
  umask(022);
  baseline = describe();
}

/* A tree deeper than nftw can walk (paths beyond PATH_MAX, which libarchive can write): GNU rm. */
static void remove_deep(const char *path) {
  pid_t pid = fork();
  if (pid == 0) {
    execlp("rm", "rm", "-rf", "--one-file-system", path, (char *)NULL);
    _exit(127);
  }
  int status = -1;
  pid_t r;
  /* libFuzzer's -timeout alarm interrupts the wait (its handler has no SA_RESTART) */
  while (pid > 0 && (r = waitpid(pid, &status, 0)) < 0 && errno == EINTR) continue;
  if (pid < 0 || r < 0 || status != 0) fatal("rm -rf %s failed (status %d): %m", path, status);
}

const char *sandbox_fresh_path(const char *name) {
  snprintf(fresh_path, sizeof fresh_path, "%s/work/%s", sandbox, name);
  return fresh_path;
}

const char *sandbox_fresh_dir(const char *name) {
  sandbox_fresh_path(name);
  struct lerr e;
  if (remove_all(fresh_path, &e) < 0) remove_deep(fresh_path);
  if (mkdir(fresh_path, 0755) < 0) fatal("mkdir %s: %m", fresh_path);
  return fresh_path;
}

int sandbox_memfd(const uint8_t *data, size_t size) {
  int fd = memfd_create("layer", MFD_CLOEXEC);
  if (fd < 0) fatal("memfd_create: %m");
  for (size_t off = 0; off < size;) {
    ssize_t n = write(fd, data + off, size - off);
    if (n <= 0) fatal("write memfd: %m");
    off += (size_t)n;
  }
  if (lseek(fd, 0, SEEK_SET) < 0) fatal("lseek: %m");
  return fd;
}

static volatile sig_atomic_t inside;

void sandbox_enter(const char *dir) {
  if (chdir(dir) < 0 || chroot(".") < 0) fatal("chroot %s: %m", dir);
  inside = 1;
}

void sandbox_leave(void) {
  if (fchdir(real_root) < 0 || chroot(".") < 0 || fchdir(start_cwd) < 0) fatal("leave chroot: %m");
  inside = 0;
}

/* A sanitizer report while chrooted: leave first, so that libFuzzer writes the crash input where
 * -artifact_prefix says (in the real root) rather than into the target. */
static void leave_on_error(void) {
  if (inside && fchdir(real_root) == 0 && chroot(".") == 0 && fchdir(start_cwd) == 0) inside = 0;
}
void __asan_on_error(void) { leave_on_error(); }
void __ubsan_on_report(void) { leave_on_error(); }

void sandbox_begin(void) {
  free(fds_before);
  fds_before = describe_fds();
}

void sandbox_check(void) {
  char *fds = describe_fds();
  if (fds_before && strcmp(fds, fds_before) != 0) {
    fprintf(stderr, "fuzz sandbox: an fd leaked\n--- before\n%s--- after\n%s", fds_before, fds);
    abort();
  }
  free(fds);
  char *now = describe();
  if (strcmp(now, baseline) != 0) {
    fprintf(stderr, "fuzz sandbox: ESCAPE: something outside the target changed\n--- before\n%s--- after\n%s", baseline, now);
    abort();
  }
  free(now);
}
