/* What a container process does between its setup and execve: rlimits, oom_score_adj,
 * groups/uid/gid with capabilities, the console, PATH lookup and the exec itself. */
#include "process.h"
#include "util.h"
#include "error.h"
#include "json.h"
#include "spec.h"
#include "mounts.h"
#include "caps.h"
#include "unix_path.h"
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sched.h>
#include <sys/syscall.h>
#include <termios.h>

int proc_set_rlimits(json_t *process, struct ctl_err *e) {
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(process, "rlimits"), i, r) {
    const char *t = jstr(r, "type");
    long long soft = 0, hard = 0;
    jint(r, "soft", &soft);
    jint(r, "hard", &hard);
    int res = rlimit_from_name(t);
    struct rlimit rl = {(rlim_t)soft, (rlim_t)hard}, cur;
    if (setrlimit(res, &rl) < 0) {
      int err = errno;
      getrlimit(res, &cur);
      if (err == EPERM && rl.rlim_max > cur.rlim_max)
        return ctl_fail(e, err, "process.rlimits[%zu] (%s): setrlimit hard=%lld above the current hard limit %llu needs CAP_SYS_RESOURCE",
                        i, t, hard, (unsigned long long)cur.rlim_max);
      return ctl_fail(e, err, "process.rlimits[%zu] (%s): setrlimit soft=%lld hard=%lld", i, t, soft, hard);
    }
  }
  return 0;
}

/* process.apparmorProfile: applied at execve when the host runs AppArmor (ignored otherwise, as runc). */
int proc_set_apparmor(json_t *process, struct ctl_err *e) {
  const char *profile = jstr(process, "apparmorProfile");
  if (!profile || !*profile) return 0;
  cleanup_free char *enabled = NULL;
  struct ctl_err ignore;
  if (read_file("/sys/module/apparmor/parameters/enabled", &enabled, &ignore) < 0 || enabled[0] != 'Y') {
    ctl_debug("process.apparmorProfile %s ignored: AppArmor is not enabled", profile);
    return 0;
  }
  cleanup_free char *cmd = xasprintf("exec %s", profile);
  const char *attr = access("/proc/self/attr/apparmor/exec", F_OK) == 0 ? "/proc/self/attr/apparmor/exec" : "/proc/self/attr/exec";
  if (write_file(attr, cmd, strlen(cmd), e) < 0) return ctl_wrap(e, "process.apparmorProfile");
  return 0;
}

/* process.ioPriority (class IOPRIO_CLASS_RT|BE|IDLE, priority 0-7) and process.scheduler (policy, nice, priority). */
int proc_set_sched(json_t *process, struct ctl_err *e) {
  json_t *io = json_object_get(process, "ioPriority");
  if (io) {
    const char *cls = jstr(io, "class");
    long long prio = 0;
    jint(io, "priority", &prio);
    int c = !cls                                ? -1
            : !strcmp(cls, "IOPRIO_CLASS_RT")   ? 1
            : !strcmp(cls, "IOPRIO_CLASS_BE")   ? 2
            : !strcmp(cls, "IOPRIO_CLASS_IDLE") ? 3
                                                : -1;
    if (c < 0) return ctl_fail(e, 0, "config.json: process.ioPriority.class: unknown class \"%s\"", cls ? cls : "");
    if (syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, (c << 13) | (int)(prio & 7)) < 0)
      return ctl_fail(e, errno, "ioprio_set (process.ioPriority)");
  }
  json_t *sch = json_object_get(process, "scheduler");
  if (sch) {
    long long nice = 0, prio = 0;
    if (jint(sch, "nice", &nice) && setpriority(PRIO_PROCESS, 0, (int)nice) < 0)
      return ctl_fail(e, errno, "setpriority %lld (process.scheduler.nice)", nice);
    const char *pol = jstr(sch, "policy");
    if (pol) {
      static const struct {
        const char *n;
        int p;
      } P[] = {{"SCHED_OTHER", SCHED_OTHER},
               {"SCHED_FIFO", SCHED_FIFO},
               {"SCHED_RR", SCHED_RR},
               {"SCHED_BATCH", SCHED_BATCH},
               {"SCHED_IDLE", SCHED_IDLE}};
      int policy = -1;
      for (size_t i = 0; i < sizeof P / sizeof *P; i++)
        if (!strcmp(pol, P[i].n)) policy = P[i].p;
      if (policy < 0) return ctl_fail(e, 0, "config.json: process.scheduler.policy: unsupported policy \"%s\"", pol);
      jint(sch, "priority", &prio);
      struct sched_param sp = {.sched_priority = (int)prio};
      if (sched_setscheduler(0, policy, &sp) < 0) return ctl_fail(e, errno, "sched_setscheduler %s (process.scheduler)", pol);
    }
  }
  return 0;
}

int proc_set_oom_score_adj(json_t *process, struct ctl_err *e) {
  long long adj;
  if (!jint(process, "oomScoreAdj", &adj)) return 0;
  char buf[32];
  int n = snprintf(buf, sizeof buf, "%lld", adj);
  if (write_file("/proc/self/oom_score_adj", buf, n, e) < 0) return ctl_wrap(e, "process.oomScoreAdj");
  return 0;
}

int proc_finalize_user_caps(json_t *process, json_t *spec, struct ctl_err *e) {
  json_t *user = json_object_get(process, "user"), *capsj = json_object_get(process, "capabilities");
  long long uid = 0, gid = 0, umask_v = 022;
  jint(user, "uid", &uid);
  jint(user, "gid", &gid);
  jint(user, "umask", &umask_v);
  unsigned long long sets[5];
  bool userns = false;
  size_t i;
  json_t *ns;
  json_array_foreach(jpath(spec, "linux.namespaces"), i, ns) if (!strcmp(jstr(ns, "type") ?: "", "user")) userns = true;
  if (capsj) {
    if (caps_parse(capsj, sets, e) < 0) return ctl_wrap(e, "process.capabilities");
    if (caps_drop_bounding(sets[0], e) < 0) return -1;
  }
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) return ctl_fail(e, errno, "prctl PR_SET_KEEPCAPS");
  json_t *ag = json_object_get(user, "additionalGids");
  size_t ng = json_array_size(ag);
  gid_t *groups = xmalloc((ng + 1) * sizeof(gid_t));
  json_t *g;
  json_array_foreach(ag, i, g) groups[i] = (gid_t)json_integer_value(g);
  if (setgroups(ng, groups) < 0 && !(errno == EPERM && userns && ng == 0)) {
    int err = errno;
    free(groups);
    return ctl_fail(e, err, "setgroups (process.user.additionalGids)");
  }
  free(groups);
  if (setresgid(gid, gid, gid) < 0) return ctl_fail(e, errno, "setresgid %lld (process.user.gid)", gid);
  if (setresuid(uid, uid, uid) < 0) return ctl_fail(e, errno, "setresuid %lld (process.user.uid)", uid);
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) return ctl_fail(e, errno, "prctl PR_SET_KEEPCAPS");
  if (capsj && caps_apply(sets, e) < 0) return -1;
  umask((mode_t)umask_v);
  return 0;
}

static const char *env_get(json_t *process, const char *name) {
  size_t i, l = strlen(name);
  json_t *v;
  json_array_foreach(json_object_get(process, "env"), i, v) {
    const char *s = json_string_value(v);
    if (s && !strncmp(s, name, l) && s[l] == '=') return s + l + 1;
  }
  return NULL;
}

/* strerror as Go spells it: "permission denied", "exec format error". */
static const char *lower_strerror(int err) {
  static char buf[128];
  snprintf(buf, sizeof buf, "%s", strerror(err));
  buf[0] = (char)tolower((unsigned char)buf[0]);
  return buf;
}

/* The command's failure in docker's (Go's exec.LookPath) words, naming the container's command. */
static char *command_fail(struct ctl_err *e, enum ctl_reason reason, int errnum, const char *arg0, const char *detail) {
  ctl_fail_kind(e, ctl_kind_of_errno(errnum), 0, "exec: \"%s\": %s", arg0, detail);
  e->reason = reason;
  return NULL;
}

/* Go's exec.LookPath rule: a regular file (not a directory) with an execute bit. */
static bool is_executable(const struct stat *st) { return !S_ISDIR(st->st_mode) && (st->st_mode & 0111); }

char *proc_lookup_path(json_t *process, struct ctl_err *e) {
  const char *arg0 = json_string_value(json_array_get(json_object_get(process, "args"), 0));
  struct stat st;
  if (strchr(arg0, '/')) {
    if (stat(arg0, &st) < 0) {
      int err = errno;
      enum ctl_reason reason = err == ENOENT || err == ENOTDIR ? CTL_REASON_COMMAND_NOT_FOUND : CTL_REASON_COMMAND_NOT_EXECUTABLE;
      char detail[160];
      snprintf(detail, sizeof detail, "stat %s: %s", arg0, lower_strerror(err));
      return command_fail(e, reason, err, arg0, detail);
    }
    if (!is_executable(&st)) return command_fail(e, CTL_REASON_COMMAND_NOT_EXECUTABLE, EACCES, arg0, "permission denied");
    return strdup(arg0);
  }
  const char *path = env_get(process, "PATH") ?: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  cleanup_free char *copy = strdup(path);
  for (char *s = NULL, *dir = strtok_r(copy, ":", &s); dir; dir = strtok_r(NULL, ":", &s)) {
    char *cand = xasprintf("%s/%s", dir, arg0);
    if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && is_executable(&st)) return cand;
    free(cand);
  }
  return command_fail(e, CTL_REASON_COMMAND_NOT_FOUND, ENOENT, arg0, "executable file not found in $PATH");
}

void proc_exec(json_t *process, const char *resolved) {
  json_t *args = json_object_get(process, "args"), *env = json_object_get(process, "env");
  size_t na = json_array_size(args), ne = json_array_size(env), i;
  char **argv = xmalloc((na + 1) * sizeof(char *)), **envp = xmalloc((ne + 1) * sizeof(char *));
  for (i = 0; i < na; i++) argv[i] = (char *)json_string_value(json_array_get(args, i));
  for (i = 0; i < ne; i++) envp[i] = (char *)json_string_value(json_array_get(env, i));
  execve(resolved, argv, envp);
  int err = errno;
  /* the container's output, so in docker's words about the container's command, not ours */
  fprintf(stderr, "exec %s: %s\n", resolved, lower_strerror(err));
  /* the shell's (and docker's) codes: 127 not found, 126 found but not runnable */
  _exit(err == ENOENT ? 127 : 126);
}

int console_socket_connect(const char *path, struct ctl_err *e) {
  struct sockaddr_un addr;
  int dfd = unix_path_address(path, &addr);
  if (dfd == -1) return ctl_fail(e, errno, "console socket %s", path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    int err = errno;
    if (dfd >= 0) close(dfd);
    return ctl_fail(e, err, "socket for console socket %s", path);
  }
  int rc = connect(fd, (struct sockaddr *)&addr, sizeof addr), err = errno;
  if (dfd >= 0) close(dfd);
  if (rc < 0) {
    close(fd);
    return ctl_fail(e, err, "connect console socket %s", path);
  }
  return fd;
}

static int send_fd(int sock, int fd, const char *name, struct ctl_err *e) {
  char cbuf[CMSG_SPACE(sizeof(int))];
  struct iovec iov = {.iov_base = (void *)name, .iov_len = strlen(name)};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  if (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0) return ctl_fail(e, errno, "send console master over --console-socket");
  return 0;
}

/* runc's console protocol: open a pty in the container's devpts, hand the master to whoever
 * listens on --console-socket, make the slave our controlling terminal and stdio. */
int proc_open_console(int sockfd, json_t *process, bool bind_console, struct ctl_err *e) {
  int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) return SYSERR(e, "open", "/dev/ptmx");
  int unlock = 0, n;
  char slave[64];
  if (ioctl(master, TIOCSPTLCK, &unlock) < 0 || ioctl(master, TIOCGPTN, &n) < 0) {
    int err = errno;
    close(master);
    return ctl_fail(e, err, "unlock pty /dev/ptmx");
  }
  snprintf(slave, sizeof slave, "/dev/pts/%d", n);
  long long h = 0, w = 0;
  json_t *cs = json_object_get(process, "consoleSize");
  if (jint(cs, "height", &h) && jint(cs, "width", &w)) {
    struct winsize ws = {.ws_row = (unsigned short)h, .ws_col = (unsigned short)w};
    ioctl(master, TIOCSWINSZ, &ws);
  }
  int sfd = open(slave, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (sfd < 0) {
    int err = errno;
    close(master);
    return ctl_fail(e, err, "open %s", slave);
  }
  if (bind_console && mount_console(slave, e) < 0) goto fail;
  if (send_fd(sockfd, master, "/dev/ptmx", e) < 0) goto fail;
  close(master);
  if (ioctl(sfd, TIOCSCTTY, 0) < 0) {
    ctl_fail(e, errno, "ioctl TIOCSCTTY %s", slave);
    close(sfd);
    return -1;
  }
  for (int i = 0; i < 3; i++)
    if (dup2(sfd, i) < 0) return ctl_fail(e, errno, "dup2 %s", slave);
  close(sfd);
  return 0;
fail:
  close(master);
  close(sfd);
  return -1;
}
