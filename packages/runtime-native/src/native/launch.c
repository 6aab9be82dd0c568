/* ctl-launch: runs short commands for a long-lived Node process that should not fork itself.
 *
 * Node's child_process forks the whole daemon: the kernel copies the page tables of ~100 MB of
 * heap on every spawn, and libuv does it on the event loop's thread, so each `mount`, `umount`
 * or `ctl-runtime start` blocks every other request for milliseconds and parallel container
 * starts queue behind each other. This process is small, so its fork costs
 * almost nothing, and the daemon only writes a request and later reads the answer.
 *
 * Protocol on stdin/stdout, all integers little-endian uint32 unless said otherwise:
 *   request:  len id flags argc cwd\0 [netns\0] argv[0]\0 ... argv[argc-1]\0 input_len input
 *             (len counts everything after itself; an empty cwd means "inherit"; flags: LAUNCH_OUTLIVES,
 *             LAUNCH_NETNS: the netns path is there, and the command runs in that network namespace)
 *   kill:     len id flags(LAUNCH_KILL): SIGKILL to the command of request id, if it still runs
 *             (no response of its own: that request's comes, with status 128+9)
 *   response: len id status stdout_len stdout stderr_len stderr
 *             status: exit code, 128+signal when killed, or 0x80000000|errno when the command
 *             could not be started (stderr then says why, as "ctl-launch: FILE: ERROR").
 * Requests run concurrently; responses come in completion order, matched by id. The
 * environment is the launcher's own (the daemon's at the time it started the launcher).
 * At EOF on stdin the launcher finishes what runs, answers, and exits.
 *
 * Dying with the daemon (parent_death.h): with `--die-with-parent PID` the launcher is SIGKILLed
 * when the daemon dies, and every command it runs is SIGKILLed when the launcher dies, unless the
 * request has LAUNCH_OUTLIVES (the shim's starter: the shim must survive a daemon restart). The
 * signal is asked for in the child between fork and exec, which posix_spawn cannot do, hence fork:
 * this process is small, so its fork is cheap.
 *
 * ctl-netns and ctl-mount (the binaries beside this one) are not run but done here: their
 * operations (netns.c: a container's netns made and removed, its veth made; mount_tool.c: a
 * rootfs mounted and unmounted) are linked in and run in this process, in the order of the
 * requests, each answered at once. Every container waits for them at its start and removal; so
 * they need no fork, exec and exit, and no wait for a child to be scheduled on a busy host. They
 * are short (rtnetlink, a mount) and return to this process's network namespace and working
 * directory (ctl-mount's request may name one, for an overlay's relative paths), which are checked
 * after each: a launcher left in another would run every later command there, so it exits instead
 * (the daemon starts another). Only plain requests are done so (no stdin or LAUNCH_OUTLIVES, no
 * cwd for ctl-netns); others run the binary, and so does ctl-netns's `link-del`:
 * the kernel deletes a link within the call, waiting for RCU grace periods and the device's last
 * references (tens of milliseconds), which here would hold up every other request.
 *
 * ctl-apply (beside this one too) is forked but not exec'd: its code (apply.c, libarchive,
 * libcrypto) is linked in and started here once, so a pull's layer after layer costs no exec, no
 * loading of those libraries (4.5 ms of CPU each) and no start of libcrypto; the child runs
 * ctl_apply_main as the binary would, with the request's stdio, and dies with the launcher like
 * any command. Only plain requests (no stdin, no LAUNCH_OUTLIVES, no netns); others run the binary. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <linux/close_range.h>
#include <unistd.h>
#include "apply.h"
#include "mount_tool.h"
#include "netns.h"
#include "parent_death.h"

#define MAX_JOBS 256
#define MAX_REQUEST (16u << 20)
/* request flag: the command keeps running when the launcher dies */
#define LAUNCH_OUTLIVES 1u
/* request flag: the command runs in the network namespace at the path after cwd (netd's commands
 * in a container's netns, without an nsenter exec in between) */
#define LAUNCH_NETNS 2u
/* request flag: not a command but the end of one (an apply whose pull was canceled) */
#define LAUNCH_KILL 4u

struct buf {
  char *p;
  size_t len, cap;
};

static void buf_add(struct buf *b, const void *data, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      perror("ctl-launch: realloc");
      exit(1);
    }
    b->p = p, b->cap = cap;
  }
  memcpy(b->p + b->len, data, n);
  b->len += n;
}

static void buf_u32(struct buf *b, uint32_t v) { buf_add(b, &v, 4); }

struct job {
  bool used, exited;
  uint32_t id;
  pid_t pid;
  int status;
  int out, err, in; /* our ends; -1 once closed */
  struct buf o, e;
  const char *input; /* into req */
  size_t input_len, input_off;
  char *req; /* the request, owned */
};

static struct job jobs[MAX_JOBS];
static pid_t launcher_pid;
/* our network namespace, which inline tools return to (run_inline) */
static int home_netns = -1;
static struct buf reply; /* responses waiting to be written to stdout */
static struct buf request;

static void queue_response(uint32_t id, uint32_t status, const struct buf *o, const struct buf *e) {
  uint32_t olen = o ? o->len : 0, elen = e ? e->len : 0;
  buf_u32(&reply, 4 + 4 + 4 + olen + 4 + elen);
  buf_u32(&reply, id);
  buf_u32(&reply, (uint32_t)status);
  buf_u32(&reply, olen);
  if (olen) buf_add(&reply, o->p, olen);
  buf_u32(&reply, elen);
  if (elen) buf_add(&reply, e->p, elen);
}

static void fail_request(uint32_t id, const char *file, int err) {
  char msg[PATH_MAX + 256];
  struct buf e = {0};
  int n = snprintf(msg, sizeof msg, "ctl-launch: %s: %s\n", file, strerror(err));
  buf_add(&e, msg, n);
  queue_response(id, 0x80000000u | (uint32_t)err, NULL, &e);
  free(e.p);
}

static void finish_if_done(struct job *j) {
  if (!j->used || !j->exited || j->out >= 0 || j->err >= 0) return;
  int code = WIFEXITED(j->status) ? WEXITSTATUS(j->status) : 128 + WTERMSIG(j->status);
  queue_response(j->id, code, &j->o, &j->e);
  if (j->in >= 0) close(j->in);
  free(j->o.p);
  free(j->e.p);
  free(j->req);
  memset(j, 0, sizeof *j);
  j->out = j->err = j->in = -1;
}

/* ctl-apply beside this binary (run forked, see the top); "" when not found. */
static char forked_apply[PATH_MAX];

/* The child's half of a spawn; never returns. A step that fails sends its errno on `report`. */
static void exec_child(char **argv, const char *cwd, const char *netns, int in, int out, int err, bool outlives, int report) {
  int e = 0;
  bool apply_here = *forked_apply && !strcmp(argv[0], forked_apply) && !outlives && !netns && in < 0;
  if (!outlives && ctl_die_with_parent(launcher_pid) < 0) _exit(127); /* the launcher is gone: nobody wants this */
  if (netns) {
    int fd = open(netns, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) goto fail;
    close(fd);
  }
  if (in < 0 && (in = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) goto fail;
  if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) goto fail;
  if (*cwd && chdir(cwd) < 0) goto fail;
  /* the command gets the default signal state, not our blocked SIGCHLD and ignored SIGPIPE/SIGINT */
  for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  if (apply_here) {
    /* what an exec would close: the report pipe (it has started) and every descriptor of the
     * launcher, other commands' pipes among them (one holding a stdin would keep its EOF away) */
    close_range(3, ~0U, 0);
    /* named as the binary would be, for ps, pgrep and whoever looks for the applier */
    prctl(PR_SET_NAME, "ctl-apply", 0, 0, 0);
    int argc = 0;
    while (argv[argc]) argc++;
    _exit(ctl_apply_main(argc, argv));
  }
  execvp(argv[0], argv);
fail:
  e = errno;
  if (write(report, &e, sizeof e) < 0) {}
  _exit(127);
}

/* Starts argv with the given stdio (in < 0: /dev/null), cwd ("" to inherit) and netns (NULL: ours),
 * dying with us unless it outlives. 0 once it has exec'd, or the errno of what failed (fork, a step, exec). */
static int spawn(pid_t *pid, char **argv, const char *cwd, const char *netns, int in, int out, int err, bool outlives) {
  int report[2];
  if (pipe2(report, O_CLOEXEC) < 0) return errno;
  *pid = fork();
  if (*pid < 0) {
    int e = errno;
    close(report[0]);
    close(report[1]);
    return e;
  }
  if (*pid == 0) exec_child(argv, cwd, netns, in, out, err, outlives, report[1]);
  close(report[1]);
  int e = 0;
  ssize_t n;
  do n = read(report[0], &e, sizeof e);
  while (n < 0 && errno == EINTR);
  close(report[0]);
  if (n != sizeof e) return 0; /* closed by exec */
  while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR) {}
  return e;
}

static bool at_home(void) {
  struct stat a, b;
  return fstat(home_netns, &a) == 0 && stat("/proc/self/ns/net", &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

/* The tools whose requests run in this process (see the top): their binaries beside this one. */
struct inline_tool {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *(*message)(void);
  /* its paths may be relative to the request's cwd, which this process enters for the call */
  bool takes_cwd;
  char path[PATH_MAX];
};

static struct inline_tool inline_tools[] = {
    {"ctl-netns", ctl_netns_run, ctl_netns_message, false, ""},
    {"ctl-mount", ctl_mount_run, ctl_mount_message, true, ""},
};

static struct inline_tool *inline_tool_for(const char *file) {
  for (size_t k = 0; k < sizeof inline_tools / sizeof *inline_tools; k++)
    if (*inline_tools[k].path && !strcmp(file, inline_tools[k].path)) return &inline_tools[k];
  return NULL;
}

/* A request of an inline tool done in this process; false: not one, run it as any command. */
static bool run_inline(uint32_t id, uint32_t flags, uint32_t argc, char **argv, const char *cwd, const char *netns, uint32_t input_len) {
  struct inline_tool *tool = home_netns < 0 ? NULL : inline_tool_for(argv[0]);
  if (!tool || (*cwd && !tool->takes_cwd) || input_len || (flags & LAUNCH_OUTLIVES)) return false;
  if (argc > 1 && tool->run == ctl_netns_run && !strcmp(argv[1], "link-del")) return false;
  int home_dir = -1;
  if (*cwd) {
    home_dir = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (home_dir < 0) return false;
    if (chdir(cwd) < 0) {
      int e = errno;
      close(home_dir);
      char what[PATH_MAX + 64];
      snprintf(what, sizeof what, "%s in directory %s", argv[0], cwd);
      fail_request(id, what, e);
      return true;
    }
  }
  if (netns) {
    int fd = open(netns, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
      int e = errno;
      if (fd >= 0) close(fd);
      if (home_dir >= 0 && fchdir(home_dir) < 0) exit(1);
      if (home_dir >= 0) close(home_dir);
      char what[PATH_MAX + 64];
      snprintf(what, sizeof what, "%s in network namespace %s", argv[0], netns);
      fail_request(id, what, e);
      return true;
    }
    close(fd);
  }
  int code = tool->run((int)argc, argv);
  if (netns) setns(home_netns, CLONE_NEWNET);
  if (!at_home()) {
    fprintf(stderr, "ctl-launch: %s %s left this process in another network namespace\n", argv[0], argc > 1 ? argv[1] : "");
    exit(1);
  }
  if (home_dir >= 0) {
    /* every later command would start in cwd: better no launcher (the daemon starts another) */
    if (fchdir(home_dir) < 0) {
      perror("ctl-launch: return to the working directory");
      exit(1);
    }
    close(home_dir);
  }
  struct buf e = {0};
  const char *message = tool->message();
  if (*message) {
    buf_add(&e, message, strlen(message));
    buf_add(&e, "\n", 1);
  }
  queue_response(id, (uint32_t)code, NULL, &e);
  free(e.p);
  return true;
}

/* The inline tools beside /proc/self/exe, and our netns held open (run_inline); neither: they run as any command. */
static void find_inline_tools(void) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return;
  self[n] = 0;
  char *slash = strrchr(self, '/');
  if (!slash) return;
  *slash = 0;
  for (size_t k = 0; k < sizeof inline_tools / sizeof *inline_tools; k++) {
    struct inline_tool *t = &inline_tools[k];
    if ((size_t)snprintf(t->path, sizeof t->path, "%s/%s", self, t->name) >= sizeof t->path) t->path[0] = 0;
  }
  if ((size_t)snprintf(forked_apply, sizeof forked_apply, "%s/ctl-apply", self) >= sizeof forked_apply || access(forked_apply, X_OK) < 0)
    forked_apply[0] = 0;
  else
    ctl_apply_preload();
  home_netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
}

/* Parses one request (owned by the caller until handed to a job) and starts its command. */
static void start(char *req, uint32_t len) {
  uint32_t id, flags, argc;
  if (len >= 8) {
    memcpy(&id, req, 4);
    memcpy(&flags, req + 4, 4);
    if (flags & LAUNCH_KILL) {
      for (int k = 0; k < MAX_JOBS; k++)
        if (jobs[k].used && jobs[k].id == id && !jobs[k].exited) kill(jobs[k].pid, SIGKILL);
      free(req);
      return;
    }
  }
  if (len < 16) {
    free(req);
    return;
  }
  memcpy(&id, req, 4);
  memcpy(&flags, req + 4, 4);
  memcpy(&argc, req + 8, 4);
  char *p = req + 12, *end = req + len;
  char *cwd = p;
  p = memchr(p, 0, end - p);
  if (!p || argc == 0 || argc > 4096) goto bad;
  p++;
  char *netns = NULL;
  if (flags & LAUNCH_NETNS) {
    netns = p;
    p = memchr(p, 0, end - p);
    if (!p) goto bad;
    p++;
  }
  char **argv = calloc(argc + 1, sizeof *argv);
  for (uint32_t i = 0; i < argc; i++) {
    char *z = memchr(p, 0, end - p);
    if (!z) {
      free(argv);
      goto bad;
    }
    argv[i] = p;
    p = z + 1;
  }
  uint32_t input_len;
  if (end - p < 4) {
    free(argv);
    goto bad;
  }
  memcpy(&input_len, p, 4);
  p += 4;
  if ((uint32_t)(end - p) < input_len) {
    free(argv);
    goto bad;
  }
  if (run_inline(id, flags, argc, argv, cwd, netns, input_len)) {
    free(argv);
    free(req);
    return;
  }
  struct job *j = NULL;
  for (int k = 0; k < MAX_JOBS && !j; k++)
    if (!jobs[k].used) j = &jobs[k];
  if (!j) {
    fail_request(id, argv[0], EAGAIN);
    free(argv);
    free(req);
    return;
  }
  int outp[2], errp[2], inp[2] = {-1, -1};
  if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 || (input_len && pipe2(inp, O_CLOEXEC) < 0)) {
    fail_request(id, argv[0], errno);
    free(argv);
    free(req);
    return;
  }
  pid_t pid = 0;
  int rc = spawn(&pid, argv, cwd, netns, inp[0], outp[1], errp[1], flags & LAUNCH_OUTLIVES);
  close(outp[1]);
  close(errp[1]);
  if (inp[0] >= 0) close(inp[0]);
  if (rc != 0) {
    close(outp[0]);
    close(errp[0]);
    if (inp[1] >= 0) close(inp[1]);
    if (netns) {
      char what[PATH_MAX + 64];
      snprintf(what, sizeof what, "%s in network namespace %s", argv[0], netns);
      fail_request(id, what, rc);
    } else {
      fail_request(id, argv[0], rc);
    }
    free(argv);
    free(req);
    return;
  }
  free(argv);
  *j = (struct job){.used = true, .id = id, .pid = pid, .out = outp[0], .err = errp[0], .in = inp[1], .req = req};
  j->input = p;
  j->input_len = input_len;
  if (j->in >= 0) fcntl(j->in, F_SETFL, O_NONBLOCK);
  return;
bad:
  fprintf(stderr, "ctl-launch: malformed request %u\n", id);
  free(req);
}

/* Takes whole requests off the front of the input buffer. */
static void take_requests(void) {
  size_t off = 0;
  while (request.len - off >= 4) {
    uint32_t len;
    memcpy(&len, request.p + off, 4);
    if (len > MAX_REQUEST) {
      fprintf(stderr, "ctl-launch: request of %u bytes refused\n", len);
      exit(1);
    }
    if (request.len - off - 4 < len) break;
    char *req = malloc(len ? len : 1);
    memcpy(req, request.p + off + 4, len);
    off += 4 + len;
    start(req, len);
  }
  memmove(request.p, request.p + off, request.len - off);
  request.len -= off;
}

int main(int argc, char **argv) {
  launcher_pid = getpid();
  if (argc == 3 && !strcmp(argv[1], "--die-with-parent")) {
    pid_t parent = ctl_parent_pid_arg(argv[2]);
    if (!parent) {
      fprintf(stderr, "ctl-launch: --die-with-parent %s: not a pid\n", argv[2]);
      return 2;
    }
    if (ctl_die_with_parent(parent) < 0) {
      perror("ctl-launch: die with parent");
      return 1;
    }
  } else if (argc != 1) {
    fprintf(stderr, "usage: ctl-launch [--die-with-parent PID]\n");
    return 2;
  }
  /* Node passes on every descriptor of the daemon not marked close-on-exec (LevelDB's files among
   * them): none is ours to hold, nor the shims' we start, which live for days. */
  close_range(3, ~0U, 0);
  for (int k = 0; k < MAX_JOBS; k++) jobs[k].out = jobs[k].err = jobs[k].in = -1;
  find_inline_tools();
  signal(SIGPIPE, SIG_IGN);
  /* the daemon's ^C is the daemon's business: what we run finishes and is answered */
  signal(SIGINT, SIG_IGN);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) {
    perror("ctl-launch: signalfd");
    return 1;
  }
  fcntl(1, F_SETFL, fcntl(1, F_GETFL) | O_NONBLOCK);
  bool input_open = true;
  for (;;) {
    int running = 0;
    for (int k = 0; k < MAX_JOBS; k++) running += jobs[k].used;
    if (!input_open && !running && reply.len == 0) return 0;
    struct pollfd p[2 + 3 * MAX_JOBS];
    struct job *owner[2 + 3 * MAX_JOBS];
    int np = 0;
    p[np] = (struct pollfd){sfd, POLLIN, 0}, owner[np++] = NULL;
    if (input_open) p[np] = (struct pollfd){0, POLLIN, 0}, owner[np++] = NULL;
    if (reply.len) p[np] = (struct pollfd){1, POLLOUT, 0}, owner[np++] = NULL;
    for (int k = 0; k < MAX_JOBS; k++) {
      struct job *j = &jobs[k];
      if (!j->used) continue;
      if (j->out >= 0) p[np] = (struct pollfd){j->out, POLLIN, 0}, owner[np++] = j;
      if (j->err >= 0) p[np] = (struct pollfd){j->err, POLLIN, 0}, owner[np++] = j;
      if (j->in >= 0) p[np] = (struct pollfd){j->in, POLLOUT, 0}, owner[np++] = j;
    }
    if (poll(p, np, -1) < 0) {
      if (errno == EINTR) continue;
      perror("ctl-launch: poll");
      return 1;
    }
    for (int k = 0; k < np; k++) {
      if (!p[k].revents) continue;
      int fd = p[k].fd;
      struct job *j = owner[k];
      if (j && (fd == j->out || fd == j->err)) {
        char chunk[65536];
        ssize_t r = read(fd, chunk, sizeof chunk);
        if (r > 0)
          buf_add(fd == j->out ? &j->o : &j->e, chunk, r);
        else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
          close(fd);
          if (fd == j->out)
            j->out = -1;
          else
            j->err = -1;
          finish_if_done(j);
        }
      } else if (j && fd == j->in) {
        ssize_t w = write(fd, j->input + j->input_off, j->input_len - j->input_off);
        if (w > 0) j->input_off += w;
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || j->input_off == j->input_len) close(j->in), j->in = -1;
      } else if (fd == 0) {
        char chunk[65536];
        ssize_t r = read(0, chunk, sizeof chunk);
        if (r > 0) {
          buf_add(&request, chunk, r);
          take_requests();
        } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
          input_open = false;
        }
      } else if (fd == 1) {
        ssize_t w = write(1, reply.p, reply.len);
        if (w > 0) {
          memmove(reply.p, reply.p + w, reply.len - w);
          reply.len -= w;
        } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
          return 1; /* nobody reads our answers any more */
        }
      } else if (fd == sfd) {
        struct signalfd_siginfo si;
        while (read(sfd, &si, sizeof si) == sizeof si) {}
        int st;
        pid_t w;
        while ((w = waitpid(-1, &st, WNOHANG)) > 0)
          for (int m = 0; m < MAX_JOBS; m++)
            if (jobs[m].used && jobs[m].pid == w) {
              jobs[m].exited = true;
              jobs[m].status = st;
              finish_if_done(&jobs[m]);
            }
      }
    }
  }
}
