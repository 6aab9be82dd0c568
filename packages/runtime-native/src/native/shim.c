/* ctl-shim: one small process per container, the parent (subreaper) of the container's init.
 *
 *   ctl-shim --state-dir DIR --pid-file FILE [--log FILE] [--console-socket PATH] [--exit-file FILE]
 *            [--attach-socket PATH] [--control-socket PATH] [--stdin] [--backlog] -- RUNTIME [ARGS...]
 *            (e.g. ctl-runtime --root R create --bundle B --pid-file FILE ID)
 *
 * The starter forks; the shim detaches (setsid, double fork) so that it survives whoever started
 * it, becomes a child subreaper and runs the runtime's create with pipes (or, with
 * --console-socket, a pty it receives over that socket) as the container's stdio. When create has
 * succeeded the starter prints the init pid and exits 0. The shim then forwards signals to the
 * init, writes every line of output to the log as one JSON object ({"time","stream","log"}), and
 * when the init exits writes {"pid","exitStatus","signal","oomKilled","exitedAt"} atomically
 * (tmp + fsync + rename) to the exit file (default DIR/exit.json) and exits.
 *
 * Attachable streams: with --attach-socket, clients that connect receive the output from then on
 * in Docker's multiplexed framing (8-byte header: stream 1=stdout 2=stderr, 3 zero bytes, length
 * uint32 big-endian; then the bytes); with --stdin, what a client sends is the container's stdin
 * (the terminal's input with a pty), and the first client to close its side closes stdin.
 * With --backlog (an exec, whose client can only connect once the process runs), output from
 * before the first client connects is kept (up to 64 KiB) and sent to it first; and when the
 * process is gone before any client came, the shim waits up to 2 s for one after writing the
 * exit file, so that a short exec's output still reaches the client that started it.
 *
 * DIR/shim.pid holds "PID STARTTIME" of the shim proper (see write_shim_pid).
 *
 * Control: with --control-socket, each connection carries one command line and gets one answer
 * line ("ok" or "err MESSAGE"): "resize COLS ROWS" sets the pty's window size (the container
 * gets SIGWINCH), "close-stdin" closes the container's stdin (a pipe; no-op with a pty).
 *
 * Kept small on purpose (target: under 1 MiB resident): no JSON library, no stdio buffers, fixed
 * buffers only. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>
#include "clock.h"
#include "unix_path.h"
#include "kinds.h"

#define LINE_MAX_BYTES 8192

struct stream {
  const char *name;
  int fd;
  char buf[LINE_MAX_BYTES];
  size_t len;
};

static int log_fd = -1;
#define MAX_CLIENTS 4
static int clients[MAX_CLIENTS] = {-1, -1, -1, -1};

/* --backlog: framed output kept until the first client; allocated only then */
#define BACKLOG_MAX (64 * 1024)
static char *backlog;
static size_t backlog_len;
static bool backlog_on, backlog_full;

static void broadcast(int stream, const char *data, size_t n) {
  unsigned char hdr[8] = {(unsigned char)stream, 0, 0, 0, (unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8),
                          (unsigned char)n};
  if (backlog_on && !backlog_full) {
    /* once a chunk does not fit, keep nothing more: a gap in the middle would be worse */
    if (backlog_len + 8 + n > BACKLOG_MAX)
      backlog_full = true;
    else
      memcpy(backlog + backlog_len, hdr, 8), memcpy(backlog + backlog_len + 8, data, n), backlog_len += 8 + n;
  }
  for (int i = 0; i < MAX_CLIENTS; i++) {
    if (clients[i] < 0) continue;
    struct iovec iov[2] = {{hdr, 8}, {(void *)data, n}};
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
    /* a client that cannot keep up is dropped rather than stalling the container */
    if (sendmsg(clients[i], &m, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)(n + 8)) {
      close(clients[i]);
      clients[i] = -1;
    }
  }
}
static struct stream out_s = {"stdout", -1, {0}, 0}, err_s = {"stderr", -1, {0}, 0};

/* A new attach client; the first one gets the backlog (a fresh socket's buffer holds it). */
static void add_client(int c) {
  int slot = -1;
  for (int k = 0; k < MAX_CLIENTS; k++)
    if (clients[k] < 0) slot = k;
  if (slot < 0) {
    close(c);
    return;
  }
  if (backlog_on) {
    backlog_on = false;
    if (backlog_len && send(c, backlog, backlog_len, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)backlog_len) {
      close(c);
      c = -1;
    }
    free(backlog);
    backlog = NULL;
  }
  if (c >= 0) clients[slot] = c;
}

static void die(const char *what) {
  char msg[256];
  int n = snprintf(msg, sizeof msg, "ctl-shim: %s: %s\n", what, strerror(errno));
  if (write(2, msg, n) < 0) { /* nothing */
  }
  _exit(CTL_KIND_INTERNAL);
}

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;
    }
    p += w;
    n -= w;
  }
}

/* the last line the runtime wrote to stderr, for a failed create's message (kept only while
 * the create runs: the container's own output need not be copied) */
static char last_err[200];
static bool creating = true;

/* one JSON object per line: {"time":"…","stream":"stdout","log":"text\n"} */
static void emit(struct stream *s, const char *data, size_t n) {
  static char out[LINE_MAX_BYTES * 6 + 128];
  char t[48];
  if (creating && s == &err_s && n > 1) {
    size_t k = n - (data[n - 1] == '\n');
    if (k >= sizeof last_err) k = sizeof last_err - 1;
    memcpy(last_err, data, k);
    last_err[k] = 0;
  }
  if (log_fd < 0) return;
  ctl_rfc3339(t, sizeof t);
  size_t o = snprintf(out, sizeof out, "{\"time\":\"%s\",\"stream\":\"%s\",\"log\":\"", t, s->name);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = data[i];
    if (c == '"' || c == '\\')
      out[o++] = '\\', out[o++] = c;
    else if (c == '\n')
      out[o++] = '\\', out[o++] = 'n';
    else if (c == '\r')
      out[o++] = '\\', out[o++] = 'r';
    else if (c == '\t')
      out[o++] = '\\', out[o++] = 't';
    else if (c < 0x20 || c == 0x7f)
      o += snprintf(out + o, 7, "\\u%04x", c);
    else
      out[o++] = c;
  }
  memcpy(out + o, "\"}\n", 3);
  write_all(log_fd, out, o + 3);
}

/* returns 0 at EOF/error (stream closed), 1 otherwise */
static int pump(struct stream *s) {
  ssize_t r = read(s->fd, s->buf + s->len, sizeof s->buf - s->len);
  if (r < 0 && (errno == EINTR || errno == EAGAIN)) return 1;
  if (r <= 0) {
    if (s->len) emit(s, s->buf, s->len);
    s->len = 0;
    return 0;
  }
  broadcast(s == &err_s ? 2 : 1, s->buf + s->len, r);
  s->len += r;
  size_t start = 0;
  for (size_t i = 0; i < s->len; i++)
    if (s->buf[i] == '\n') {
      emit(s, s->buf + start, i + 1 - start);
      start = i + 1;
    }
  if (start == 0 && s->len == sizeof s->buf) { /* a line longer than the buffer: emit a piece */
    emit(s, s->buf, s->len);
    start = s->len;
  }
  memmove(s->buf, s->buf + start, s->len - start);
  s->len -= start;
  return 1;
}

/* One control command per connection (see the top of this file). The socket is root's (0600);
 * a client that sends nothing within 200 ms is dropped, so none can stall the shim for long. */
static void control(int lsock, int master, int *stdin_w) {
  int c = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0) return;
  struct timeval tv = {0, 200000};
  setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char cmd[64], err[128];
  ssize_t n = read(c, cmd, sizeof cmd - 1);
  const char *reply = "ok\n";
  unsigned cols, rows;
  if (n <= 0) {
    close(c);
    return;
  }
  cmd[n] = 0;
  if (sscanf(cmd, "resize %u %u", &cols, &rows) == 2) {
    struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
    if (master < 0)
      reply = "err no terminal\n";
    else if (ioctl(master, TIOCSWINSZ, &ws) < 0)
      snprintf(err, sizeof err, "err resize: %s\n", strerror(errno)), reply = err;
  } else if (!strncmp(cmd, "close-stdin", 11)) {
    if (*stdin_w >= 0 && *stdin_w != master) {
      /* what a client sent before asking is the process's too: the sockets are read in no
       * particular order, so take it now (the main loop sees a client's EOF later) */
      char in[4096];
      for (int k = 0; k < MAX_CLIENTS; k++) {
        ssize_t r;
        while (clients[k] >= 0 && (r = recv(clients[k], in, sizeof in, MSG_DONTWAIT)) > 0) write_all(*stdin_w, in, r);
      }
      close(*stdin_w), *stdin_w = -1;
    }
  } else {
    reply = "err unknown command\n";
  }
  if (send(c, reply, strlen(reply), MSG_NOSIGNAL) < 0) { /* the client left */
  }
  close(c);
}

static int recv_fd(int sock) {
  char name[256], cbuf[CMSG_SPACE(sizeof(int))];
  struct iovec iov = {.iov_base = name, .iov_len = sizeof name};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
  if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) < 0) return -1;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return fd;
}

/* The number a small file holds, or -1; why not goes into why (what a failed create reports). */
static long read_long_file(const char *path, char *why, size_t why_len) {
  char buf[32];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return snprintf(why, why_len, "open: %s", strerror(errno)), -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  int saved = errno;
  close(fd);
  if (n < 0) return snprintf(why, why_len, "read: %s", strerror(saved)), -1;
  buf[n] = 0;
  long v = strtol(buf, NULL, 10);
  if (v <= 0) snprintf(why, why_len, "it holds \"%s\"", buf);
  return v;
}

/* The oom_kill counter of the init's memory cgroup (v1 memory.oom_control, v2 memory.events). */
static int oom_fd = -1;
static long oom_count(void) {
  char buf[512];
  if (oom_fd < 0) return -1;
  ssize_t n = pread(oom_fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return -1;
  buf[n] = 0;
  char *p = strstr(buf, "oom_kill ");
  return p ? strtol(p + 9, NULL, 10) : -1;
}

static void open_oom(pid_t pid) {
  char path[512], buf[2048];
  snprintf(path, sizeof path, "/proc/%d/cgroup", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return;
  buf[n] = 0;
  for (char *line = buf, *next; line && *line; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = 0;
    char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2) continue;
    *c2 = 0;
    const char *ctrls = c1 + 1, *cgpath = c2 + 1;
    if (strstr(ctrls, "memory"))
      snprintf(path, sizeof path, "/sys/fs/cgroup/memory%s/memory.oom_control", cgpath);
    else if (!*ctrls)
      snprintf(path, sizeof path, "/sys/fs/cgroup%s/memory.events", cgpath);
    else
      continue;
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0) continue;
    if (oom_fd >= 0) close(oom_fd);
    oom_fd = f;
    if (strstr(ctrls, "memory")) break; /* v1 memory wins over a hybrid v2 entry */
  }
}

/* tmp + fsync + rename: readers see the whole file or none */
static void write_file_atomic(const char *path, const char *buf, size_t n) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  write_all(fd, buf, n);
  fsync(fd);
  close(fd);
  rename(tmp, path);
}

/* A listening unix socket at path, of any length (unix_path.c). */
static int listen_unix(const char *path, int type, int backlog) {
  struct sockaddr_un a;
  int dfd = unix_path_address(path, &a);
  if (dfd == -1) return -1;
  int fd = socket(AF_UNIX, type, 0);
  int ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, backlog) == 0;
  int err = errno;
  if (dfd >= 0) close(dfd);
  if (!ok && fd >= 0) close(fd);
  errno = err;
  return ok ? fd : -1;
}

static void write_exit_file(const char *path, pid_t pid, int status, int oom) {
  char buf[512], t[48];
  ctl_rfc3339(t, sizeof t);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  int n = snprintf(buf, sizeof buf, "{\"pid\":%d,\"exitStatus\":%d,\"signal\":%d,\"oomKilled\":%s,\"exitedAt\":\"%s\"}\n", pid, code, sig,
                   oom ? "true" : "false", t);
  write_file_atomic(path, buf, n);
}

/* DIR/shim.pid, "PID STARTTIME" (field 22 of /proc/self/stat): whoever watches the process can
 * tell that its shim is gone (killed before it could write the exit file), and a new process
 * that got the pid is not taken for it */
static void write_shim_pid(const char *state_dir) {
  char buf[1024], path[4096];
  int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
  if (fd >= 0) close(fd);
  if (n <= 0) die("read /proc/self/stat");
  buf[n] = 0;
  const char *p = strrchr(buf, ')');
  unsigned long long start;
  if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu", &start) != 1)
    die("parse /proc/self/stat");
  n = snprintf(buf, sizeof buf, "%d %llu\n", (int)getpid(), start);
  snprintf(path, sizeof path, "%s/shim.pid", state_dir);
  write_file_atomic(path, buf, n);
}

int main(int argc, char **argv) {
  const char *state_dir = NULL, *pid_file = NULL, *log_path = NULL, *console_path = NULL, *exit_file = NULL, *attach_path = NULL;
  const char *control_path = NULL;
  bool want_stdin = false, want_backlog = false;
  int i;
  for (i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--")) {
      i++;
      break;
    }
    if (!strcmp(argv[i], "--stdin")) {
      want_stdin = true;
      continue;
    }
    if (!strcmp(argv[i], "--backlog")) {
      want_backlog = true;
      continue;
    }
    const char **dst = !strcmp(argv[i], "--state-dir")        ? &state_dir
                       : !strcmp(argv[i], "--pid-file")       ? &pid_file
                       : !strcmp(argv[i], "--log")            ? &log_path
                       : !strcmp(argv[i], "--console-socket") ? &console_path
                       : !strcmp(argv[i], "--exit-file")      ? &exit_file
                       : !strcmp(argv[i], "--attach-socket")  ? &attach_path
                       : !strcmp(argv[i], "--control-socket") ? &control_path
                                                              : NULL;
    if (!dst || i + 1 >= argc) {
      fprintf(stderr, "usage: ctl-shim --state-dir DIR --pid-file FILE [--log FILE] [--console-socket PATH] [--exit-file FILE] "
                      "[--attach-socket PATH] [--control-socket PATH] [--stdin] [--backlog] -- RUNTIME ARGS...\n");
      return 2;
    }
    *dst = argv[++i];
  }
  if (!state_dir || !pid_file || i >= argc) {
    fprintf(stderr, "ctl-shim: --state-dir, --pid-file and a runtime command are required\n");
    return 2;
  }
  char **runtime_argv = argv + i;
  char exit_default[4096];
  if (!exit_file) {
    snprintf(exit_default, sizeof exit_default, "%s/exit.json", state_dir);
    exit_file = exit_default;
  }
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) < 0) die("pipe");
  pid_t first = fork();
  if (first < 0) die("fork");
  if (first > 0) {
    /* the starter: wait for "ok PID" or "err CODE" */
    close(ready[1]);
    waitpid(first, NULL, 0);
    char msg[1024];
    ssize_t n = 0, r;
    while ((r = read(ready[0], msg + n, sizeof msg - 1 - n)) > 0) n += r;
    msg[n > 0 ? n : 0] = 0;
    if (!strncmp(msg, "ok ", 3)) {
      printf("%s\n", msg + 3);
      return 0;
    }
    fprintf(stderr, "ctl-shim: container create failed%s%s\n", n ? ": " : "", msg);
    /* the runtime's exit code is its kind of failure (kinds.h): passed on as it is */
    return !strncmp(msg, "err ", 4) ? atoi(msg + 4) ?: CTL_KIND_INTERNAL : CTL_KIND_INTERNAL;
  }
  close(ready[0]);
  if (setsid() < 0) die("setsid");
  pid_t second = fork();
  if (second < 0) die("fork");
  if (second > 0) _exit(0);
  /* the shim proper */
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) die("prctl PR_SET_CHILD_SUBREAPER");
  write_shim_pid(state_dir);
  if (chdir("/") < 0) die("chdir /");
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  /* let go of the starter's stdio: whoever reads it must see EOF when the starter exits */
  for (int fd = 0; fd < 3; fd++) dup2(devnull, fd);
  if (log_path) log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  sigset_t mask;
  sigfillset(&mask);
  sigdelset(&mask, SIGSEGV);
  sigdelset(&mask, SIGBUS);
  sigdelset(&mask, SIGFPE);
  sigdelset(&mask, SIGILL);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) die("signalfd");
  int lsock = -1, master = -1, outp[2] = {-1, -1}, errp[2] = {-1, -1}, inp[2] = {-1, -1}, asock = -1, csock = -1;
  if (attach_path) {
    unlink(attach_path);
    asock = listen_unix(attach_path, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, MAX_CLIENTS);
    if (asock < 0) die("attach socket");
    chmod(attach_path, 0600);
    if (want_backlog && (backlog = malloc(BACKLOG_MAX))) backlog_on = true;
  }
  if (control_path) {
    unlink(control_path);
    csock = listen_unix(control_path, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 4);
    if (csock < 0) die("control socket");
    chmod(control_path, 0600);
  }
  if (want_stdin && !console_path && pipe2(inp, O_CLOEXEC) < 0) die("pipe");
  int stdin_w = inp[1]; /* with a pty: the master, once received */
  if (console_path) {
    unlink(console_path);
    lsock = listen_unix(console_path, SOCK_STREAM | SOCK_CLOEXEC, 1);
    if (lsock < 0) die("console socket");
  } else if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
    die("pipe");
  }
  pid_t rt = fork();
  if (rt < 0) die("fork runtime");
  if (rt == 0) {
    sigprocmask(SIG_UNBLOCK, &mask, NULL);
    dup2(inp[0] >= 0 ? inp[0] : devnull, 0);
    dup2(console_path ? devnull : outp[1], 1);
    dup2(console_path ? devnull : errp[1], 2);
    execvp(runtime_argv[0], runtime_argv);
    die(runtime_argv[0]);
  }
  if (outp[1] >= 0) close(outp[1]), close(errp[1]);
  if (inp[0] >= 0) close(inp[0]);
  out_s.fd = outp[0];
  err_s.fd = errp[0];
  pid_t init = -1;
  int init_status = 0;
  long oom_base = 0;
  bool init_done = false, rt_done = false;
  struct timespec done_at = {0, 0};
  struct {
    pid_t pid;
    int status;
  } early[8];
  int nearly = 0;
  for (;;) {
    struct pollfd p[7 + MAX_CLIENTS];
    int np = 0;
    /* New attach clients first, in every round until the output is drained: a client that
     * connected before the process could write (the CLI attaches before Start) is queued on the
     * socket by then, and must be one of the clients before any output read in this round is
     * sent, or that output reaches nobody. */
    if (asock >= 0) p[np++] = (struct pollfd){asock, POLLIN, 0};
    p[np++] = (struct pollfd){sfd, POLLIN, 0};
    if (out_s.fd >= 0) p[np++] = (struct pollfd){out_s.fd, POLLIN, 0};
    if (err_s.fd >= 0) p[np++] = (struct pollfd){err_s.fd, POLLIN, 0};
    if (lsock >= 0) p[np++] = (struct pollfd){lsock, POLLIN, 0};
    if (csock >= 0 && !init_done) p[np++] = (struct pollfd){csock, POLLIN, 0};
    for (int c = 0; c < MAX_CLIENTS; c++)
      if (clients[c] >= 0) p[np++] = (struct pollfd){clients[c], POLLIN, 0};
    if (init_done && out_s.fd < 0 && err_s.fd < 0) break;
    int timeout = -1;
    if (init_done) {
      /* after the init is gone, give its stdio a moment to drain (others may hold it open) */
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      long ms = (now.tv_sec - done_at.tv_sec) * 1000 + (now.tv_nsec - done_at.tv_nsec) / 1000000;
      if (ms > 2000) break;
      timeout = 2000 - ms;
    }
    int n = poll(p, np, timeout);
    if (n < 0 && errno != EINTR) die("poll");
    if (n <= 0) continue;
    for (int k = 0; k < np; k++) {
      if (!p[k].revents) continue;
      int fd = p[k].fd;
      if (fd == lsock) {
        int c = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) continue;
        master = recv_fd(c);
        close(c);
        close(lsock);
        lsock = -1;
        unlink(console_path);
        if (master >= 0) out_s.fd = master, stdin_w = want_stdin ? master : -1; /* a pty has one stream: the terminal */
      } else if (fd == asock) {
        int c;
        while ((c = accept4(asock, NULL, NULL, SOCK_CLOEXEC)) >= 0) add_client(c);
      } else if (fd == csock) {
        control(csock, master, &stdin_w);
      } else if (fd == out_s.fd) {
        if (!pump(&out_s)) close(out_s.fd), out_s.fd = -1;
      } else if (fd == err_s.fd) {
        if (!pump(&err_s)) close(err_s.fd), err_s.fd = -1;
      } else if (fd != sfd) { /* an attached client: its bytes are the container's stdin */
        bool live = false;
        for (int c = 0; c < MAX_CLIENTS; c++) live |= clients[c] == fd;
        if (!live) continue; /* dropped earlier in this round (too slow): its fd is closed */
        char in[4096];
        /* non-blocking: a close-stdin earlier in this round may have taken what poll saw */
        ssize_t r = recv(fd, in, sizeof in, MSG_DONTWAIT);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (r > 0 && stdin_w >= 0) write_all(stdin_w, in, r);
        if (r <= 0) {
          for (int c = 0; c < MAX_CLIENTS; c++)
            if (clients[c] == fd) clients[c] = -1;
          close(fd);
          if (stdin_w >= 0 && stdin_w != master) close(stdin_w), stdin_w = -1; /* stdin-once */
        }
      } else {
        struct signalfd_siginfo si;
        while (read(sfd, &si, sizeof si) == sizeof si) {
          if (si.ssi_signo != SIGCHLD) {
            /* SIGPIPE is our own (a stdin reader went away), not one to pass on */
            if (si.ssi_signo != SIGPIPE && init > 0 && !init_done) kill(init, si.ssi_signo);
            continue;
          }
          int st;
          pid_t w;
          while ((w = waitpid(-1, &st, WNOHANG)) > 0) {
            if (w == rt && !rt_done) {
              rt_done = true;
              char msg[1024];
              int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
              char pid_why[128] = "";
              long pid = code == 0 ? read_long_file(pid_file, pid_why, sizeof pid_why) : -1;
              if (pid > 0) {
                init = (pid_t)pid;
                open_oom(init);
                oom_base = oom_count();
                if (oom_base < 0) oom_base = 0;
                creating = false;
                int m = snprintf(msg, sizeof msg, "ok %ld", pid);
                write_all(ready[1], msg, m);
                close(ready[1]);
                /* the init may have been reaped already (it was reparented to us) */
              } else {
                /* what the runtime said on stderr is the reason (bounded: a writer it left behind
                 * must not hold the create up) */
                for (int k = 0; k < 20 && err_s.fd >= 0; k++) {
                  struct pollfd q = {err_s.fd, POLLIN, 0};
                  if (poll(&q, 1, 50) <= 0) break;
                  if (!pump(&err_s)) close(err_s.fd), err_s.fd = -1;
                }
                int m = code ? snprintf(msg, sizeof msg, "err %d %s", code, last_err)
                             : snprintf(msg, sizeof msg, "err %d the runtime exited 0 but %s holds no pid (%s)", CTL_KIND_INTERNAL,
                                        pid_file, pid_why);
                if (m >= (int)sizeof msg) m = sizeof msg - 1;
                write_all(ready[1], msg, m);
                close(ready[1]);
                /* drain what the runtime wrote, then leave */
                while (out_s.fd >= 0 && pump(&out_s)) {}
                while (err_s.fd >= 0 && pump(&err_s)) {}
                _exit(1);
              }
            } else if (w == init) {
              init_status = st;
              init_done = true;
              clock_gettime(CLOCK_MONOTONIC, &done_at);
            } else if (!rt_done && nearly < 8) {
              /* reparented to us and gone before create returned: maybe the init, decided below */
              early[nearly].pid = w;
              early[nearly++].status = st;
            }
          }
        }
      }
    }
    if (rt_done && init > 0 && !init_done) {
      for (int k = 0; k < nearly; k++)
        if (early[k].pid == init) {
          init_status = early[k].status;
          init_done = true;
          clock_gettime(CLOCK_MONOTONIC, &done_at);
        }
      nearly = 0;
    }
  }
  if (out_s.fd >= 0 && out_s.len) emit(&out_s, out_s.buf, out_s.len);
  if (err_s.fd >= 0 && err_s.len) emit(&err_s, err_s.buf, err_s.len);
  if (control_path) unlink(control_path);
  long oom_now = oom_count();
  int oom = oom_now > oom_base;
  write_exit_file(exit_file, init, init_status, oom);
  if (backlog_on) {
    /* nobody attached yet: the client that started us may be about to; it gets all, then EOF */
    struct pollfd ap = {asock, POLLIN, 0};
    if (poll(&ap, 1, 2000) > 0) {
      int c = accept4(asock, NULL, NULL, SOCK_CLOEXEC);
      if (c >= 0) add_client(c);
    }
  }
  if (attach_path) unlink(attach_path);
  return 0;
}
