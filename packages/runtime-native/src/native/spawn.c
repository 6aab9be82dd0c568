/* The two-stage fork shared by create and exec (see spawn.h). */
#include "spawn.h"
#include "util.h"
#include "error.h"
#include "json.h"
#include "hooks.h"
#include "namespaces.h"
#include "cgroups.h"
#include "mounts.h"
#include "seccomp.h"
#include "process.h"
#include "state.h"
#include "sync.h"
#include <stdint.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#ifndef KEYCTL_JOIN_SESSION_KEYRING
#define KEYCTL_JOIN_SESSION_KEYRING 1
#endif

static int set_sysctls(json_t *spec, struct ctl_err *e) {
  const char *k;
  json_t *v;
  json_object_foreach(jpath(spec, "linux.sysctl"), k, v) {
    cleanup_free char *path = xasprintf("/proc/sys/%s", k);
    for (char *p = path + 10; *p; p++)
      if (*p == '.') *p = '/';
    const char *val = json_string_value(v);
    if (write_file(path, val, strlen(val), e) < 0) return ctl_wrap(e, "linux.sysctl.%s", k);
  }
  return 0;
}

static void reset_signals(void) {
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, NULL);
  for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
}

/* Joins the container's cgroups, then makes the new cgroup namespace, whose root is the cgroup a
 * process is in when it makes one.
 *
 * A process that moves another into a cgroup (a write of its pid to cgroup.procs) takes the write
 * side of the kernel's cgroup threadgroup rwsem, and the first taking after a quiet spell waits
 * for an RCU grace period: 10-30 ms on this v1/hybrid host, most of a container's create. A
 * thread that moves itself ("0" to a v1 tasks file) skips that lock, and so does a child forked
 * straight into its v2 cgroup (clone3's CLONE_INTO_CGROUP). So stage 2 of a create joins them
 * itself, first of all: it was forked into the v2 cgroup, and moves itself in the v1 ones, as
 * root of the host (not for a container with a user namespace, whose root cannot write the
 * host's cgroup files, nor for an exec, which is in the container's mount namespace already).
 *
 * Otherwise the parent moves stage 2 (pid 1 of a new pid namespace) once stage 1 reports its pid,
 * and stage 2 sets up the rootfs meanwhile, when it can: until the move is done the kernel
 * charges what stage 2 allocates (its mounts, its page tables) to the runtime's cgroups, which is
 * a few pages and stays there; what it forks after the move, and the program it execs, are in
 * the container's. Nothing before the wait opens a device node (the devices controller checks
 * opens against the cgroup the opener is in; mknod of the spec's devices is allowed in both) or
 * forks. */
static void join_cgroups(struct spawn *sp, int sync_fd) {
  struct ctl_err e = {0};
  struct sync_msg m;
  if (sp->joins_itself) {
    if (cg_enter_self_v1(sp->cg, &e) < 0) sync_child_fail(sync_fd, &e);
  } else if (sync_recv(sync_fd, &m, 0) != 1 || m.type != SYNC_CGROUPS_JOINED) {
    _exit(1);
  }
  if ((sp->plan.new_flags & CLONE_NEWCGROUP) && unshare(CLONE_NEWCGROUP) < 0)
    ctl_fail(&e, errno, "unshare cgroup namespace"), sync_child_fail(sync_fd, &e);
}

static void stage2(struct spawn *sp, int sync_fd) __attribute__((noreturn));
static void stage2(struct spawn *sp, int sync_fd) {
  struct ctl_err e = {0};
  json_t *p = sp->process;
  /* a cgroup filesystem mounted in the container's own cgroup namespace needs that namespace; so
   * does an exec's everything (it sets up no rootfs, and has nothing to do meanwhile) */
  bool cgroups_first = sp->is_exec || (sp->plan.new_flags & CLONE_NEWCGROUP) || sp->joins_itself;
  if (cgroups_first) join_cgroups(sp, sync_fd);
  reset_signals();
  /* a session of its own (stage 2 is a fresh child, never a group leader): needed for a
   * controlling terminal, and keeps the container out of the caller's job control */
  if (setsid() < 0) ctl_fail(&e, errno, "setsid"), sync_child_fail(sync_fd, &e);
  umask(0);
  if (proc_set_oom_score_adj(p, &e) < 0) sync_child_fail(sync_fd, &e);
  if (sp->is_exec && sp->exec_root && (chroot(sp->exec_root) < 0 || chdir("/") < 0))
    ctl_fail(&e, errno, "chroot %s (the container's root)", sp->exec_root), sync_child_fail(sync_fd, &e);
  if (!sp->is_exec) {
    /* in a mount namespace new or joined by path alike (the rootfs is set up in the joined one) */
    if (mounts_prepare_rootfs(&sp->mctx, &e) < 0 || mounts_pivot(&sp->mctx, &e) < 0) sync_child_fail(sync_fd, &e);
    const char *hn = jstr(sp->spec, "hostname"), *dn = jstr(sp->spec, "domainname");
    if (hn && *hn && sethostname(hn, strlen(hn)) < 0) ctl_fail(&e, errno, "sethostname %s (hostname)", hn), sync_child_fail(sync_fd, &e);
    if (dn && *dn && setdomainname(dn, strlen(dn)) < 0)
      ctl_fail(&e, errno, "setdomainname %s (domainname)", dn), sync_child_fail(sync_fd, &e);
    if (set_sysctls(sp->spec, &e) < 0) sync_child_fail(sync_fd, &e);
  }
  if (!cgroups_first) join_cgroups(sp, sync_fd);
  if (jbool(p, "terminal")) {
    if (sp->console_fd < 0) ctl_fail(&e, 0, "process.terminal is true but no --console-socket was given"), sync_child_fail(sync_fd, &e);
    if (proc_open_console(sp->console_fd, p, !sp->is_exec, &e) < 0) sync_child_fail(sync_fd, &e);
    close(sp->console_fd);
  }
  const char *cwd = jstr(p, "cwd");
  if (cwd && chdir(cwd) < 0) {
    if (errno != ENOENT || sp->is_exec || mkdir_p(cwd, 0755, &e) < 0 || chdir(cwd) < 0)
      ctl_fail(&e, errno, "chdir %s (process.cwd)", cwd), sync_child_fail(sync_fd, &e);
  }
  if (!sp->is_exec && mounts_finalize(&sp->mctx, &e) < 0) sync_child_fail(sync_fd, &e);
  if (proc_set_rlimits(p, &e) < 0 || proc_set_sched(p, &e) < 0 || proc_set_apparmor(p, &e) < 0) sync_child_fail(sync_fd, &e);
  if (!sp->is_exec && !sp->no_new_keyring) {
    /* a session keyring of its own, so containers do not share the host's */
    if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, "_ses.ctl") < 0) ctl_debug("join session keyring: %s", strerror(errno));
  }
  cleanup_free char *resolved = proc_lookup_path(p, &e);
  if (!resolved) sync_child_fail(sync_fd, &e);
  umask(022);
  json_t *sc = jpath(sp->spec, "linux.seccomp");
  bool nnp = jbool(p, "noNewPrivileges");
  /* without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it before the caps go */
  if (!nnp && sc && seccomp_apply(sc, &e) < 0) sync_child_fail(sync_fd, &e);
  if (proc_finalize_user_caps(p, sp->spec, &e) < 0) sync_child_fail(sync_fd, &e);
  if (nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) ctl_fail(&e, errno, "prctl PR_SET_NO_NEW_PRIVS"), sync_child_fail(sync_fd, &e);
  if (sync_send(sync_fd, SYNC_READY, getpid(), NULL) < 0) _exit(1);
  if (sp->fifo_fd >= 0) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", sp->fifo_fd);
    int w = open(path, O_WRONLY | O_CLOEXEC); /* blocks until `start` opens the other end */
    if (w < 0 || write(w, "0", 1) != 1) {
      fprintf(stderr, "ctl-runtime: open exec fifo: %s\n", strerror(errno));
      _exit(1);
    }
    /* w stays open until execve closes it: `start` reads to end of file, so it returns once the
     * process runs (or this one died). A signal sent right after start then finds the program,
     * not this init, which as pid 1 of its namespace would drop it (no handler installed yet). */
    close(sp->fifo_fd);
  }
  if (!sp->is_exec && json_object_get(sp->spec, "hooks")) {
    /* startContainer: in the container, after start, before the user's process */
    json_t *sj = json_pack("{s:s,s:s,s:i}", "ociVersion", CTL_OCI_VERSION, "status", "running", "pid", 1);
    if (hooks_run(sp->spec, "startContainer", sj, &e) < 0) {
      fprintf(stderr, "ctl-runtime: %s\n", e.msg);
      _exit(1);
    }
    json_decref(sj);
  }
  /* with no_new_privs, as close to execve as possible */
  if (nnp && sc && seccomp_apply(sc, &e) < 0) {
    fprintf(stderr, "ctl-runtime: %s\n", e.msg);
    _exit(1);
  }
  proc_exec(p, resolved);
}

/* fork(), the child starting in the v2 cgroup cgroup_fd names (clone3's CLONE_INTO_CGROUP); -1
 * with errno as clone3 sets it. Raw clone3: glibc 2.36 has no wrapper; stage 1 is single-threaded
 * and its child only makes system calls and execs, so none of fork()'s bookkeeping is missed. */
struct clone3_args {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
static pid_t fork_into_cgroup(int cgroup_fd) {
#ifdef SYS_clone3
  struct clone3_args args = {.flags = CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = (uint64_t)cgroup_fd};
  return (pid_t)syscall(SYS_clone3, &args, sizeof args);
#else
  (void)cgroup_fd;
  errno = ENOSYS;
  return -1;
#endif
}

static void stage1(struct spawn *sp, int sync_fd) __attribute__((noreturn));
static void stage1(struct spawn *sp, int sync_fd) {
  struct ctl_err e = {0};
  struct sync_msg m;
  if (sync_recv(sync_fd, &m, 0) != 1 || m.type != SYNC_GO) _exit(1);
  if (ns_join(&sp->plan, false, false, &e) < 0) sync_child_fail(sync_fd, &e);
  /* the cgroup namespace comes after the move into the cgroups, in stage 2 (await_cgroups) */
  int flags = sp->plan.new_flags & ~CLONE_NEWCGROUP;
  if (flags & CLONE_NEWUSER) {
    if (unshare(CLONE_NEWUSER) < 0) ctl_fail(&e, errno, "unshare user namespace"), sync_child_fail(sync_fd, &e);
    if (sync_send(sync_fd, SYNC_USERMAP, getpid(), NULL) < 0) _exit(1);
    if (sync_recv(sync_fd, &m, 0) != 1 || m.type != SYNC_USERMAP_DONE) _exit(1);
    if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
      ctl_fail(&e, errno, "become root in the user namespace (is container uid/gid 0 mapped?)"), sync_child_fail(sync_fd, &e);
  }
  if (sp->plan.join[NS_USER] && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
    ctl_fail(&e, errno, "become root in the joined user namespace"), sync_child_fail(sync_fd, &e);
  if ((flags & ~CLONE_NEWUSER) && unshare(flags & ~CLONE_NEWUSER) < 0) {
    ctl_fail(&e, errno, "unshare namespaces (linux.namespaces, flags 0x%x)", flags & ~CLONE_NEWUSER);
    sync_child_fail(sync_fd, &e);
  }
  if ((flags & CLONE_NEWNET) && ns_loopback_up(&e) < 0) sync_child_fail(sync_fd, &e);
  /* into its v2 cgroup at once when it is to join them itself (join_cgroups); a kernel without
   * CLONE_INTO_CGROUP (before 5.7) gets a plain fork and the parent's move */
  pid_t child = -1;
  bool into_cgroup = false;
  if (sp->self_join && sp->cgroup2_fd >= 0) {
    child = fork_into_cgroup(sp->cgroup2_fd);
    if (child < 0 && errno != ENOSYS && errno != E2BIG && errno != EINVAL)
      ctl_fail(&e, errno, "clone3 into the container's cgroup"), sync_child_fail(sync_fd, &e);
    into_cgroup = child >= 0;
  }
  if (!into_cgroup) child = fork();
  if (child < 0) ctl_fail(&e, errno, "fork container process"), sync_child_fail(sync_fd, &e);
  bool joins_itself = sp->self_join && (into_cgroup || sp->cgroup2_fd < 0);
  if (child == 0) {
    if (sp->cgroup2_fd >= 0) close(sp->cgroup2_fd);
    sp->joins_itself = joins_itself;
    stage2(sp, sync_fd);
  }
  sync_send(sync_fd, joins_itself ? SYNC_PID_SELF_JOINING : SYNC_PID, child, NULL);
  _exit(0);
}

int spawn_process(struct spawn *sp, pid_t *pid, struct ctl_err *e) {
  int sv[2];
  *pid = -1;
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return ctl_fail(e, errno, "socketpair");
  json_t *sc = jpath(sp->spec, "linux.seccomp");
  if (sc && seccomp_prepare(sc, sp->cache_dir, e) < 0) {
    close(sv[0]);
    close(sv[1]);
    return -1;
  }
  /* see join_cgroups */
  sp->self_join = sp->cg && !sp->is_exec && !(sp->plan.new_flags & CLONE_NEWUSER) && !sp->plan.join[NS_USER];
  const char *v2 = sp->self_join ? cg_dir(sp->cg, "unified") : NULL;
  sp->cgroup2_fd = v2 ? open(v2, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
  if (v2 && sp->cgroup2_fd < 0) sp->self_join = false;
  pid_t s1 = fork();
  if (s1 < 0) {
    close(sv[0]);
    close(sv[1]);
    if (sp->cgroup2_fd >= 0) close(sp->cgroup2_fd);
    return ctl_fail(e, errno, "fork");
  }
  if (s1 == 0) {
    close(sv[0]);
    stage1(sp, sv[1]);
  }
  close(sv[1]);
  if (sp->cgroup2_fd >= 0) close(sp->cgroup2_fd);
  sp->cgroup2_fd = -1;
  int fd = sv[0], r = -1;
  bool ready = false, s1_reaped = false;
  struct sync_msg m;
  if (sync_send(fd, SYNC_GO, 0, NULL) < 0) {
    ctl_fail(e, errno, "sync with container process");
    goto out;
  }
  for (;;) {
    /* once stage 1 is gone, everything it sent is queued: take it without waiting for more */
    int n = sync_recv(fd, &m, s1_reaped ? MSG_DONTWAIT : 0);
    if (n <= 0) {
      ctl_fail_kind(e, CTL_KIND_INTERNAL, 0, "container process exited during setup");
      goto out;
    }
    if (m.type == SYNC_USERMAP) {
      if (ns_write_id_maps(m.pid, sp->spec, e) < 0) goto out;
      sync_send(fd, SYNC_USERMAP_DONE, 0, NULL);
    } else if (m.type == SYNC_PID_SELF_JOINING) {
      *pid = m.pid;
    } else if (m.type == SYNC_PID) {
      /* stage 2 sets up the rootfs meanwhile and waits for this before it goes on (join_cgroups) */
      *pid = m.pid;
      if (sp->cg && cg_enter(sp->cg, m.pid, e) < 0) goto out;
      if (sync_send(fd, SYNC_CGROUPS_JOINED, 0, NULL) < 0) {
        ctl_fail(e, errno, "sync with container process");
        goto out;
      }
    } else if (m.type == SYNC_ERROR) {
      *e = m.err;
      goto out;
    } else if (m.type == SYNC_READY) {
      ready = true;
    }
    if (ready && *pid > 0) {
      r = 0;
      goto out;
    }
    if (ready && !s1_reaped) {
      /* Stage 2 and stage 1 write on the same socket, and on a busy host stage 2 can be ready
       * before stage 1, which sends SYNC_PID right after its fork, has run again: without its
       * pid the pid file held -1. Stage 1 exits right after that send: wait for it, read on. */
      while (waitpid(s1, NULL, 0) < 0 && errno == EINTR) {}
      s1_reaped = true;
    }
  }
out:
  close(fd);
  if (r < 0) {
    if (!s1_reaped) kill(s1, SIGKILL);
    if (*pid > 0) kill(*pid, SIGKILL);
  }
  while (!s1_reaped && waitpid(s1, NULL, 0) < 0 && errno == EINTR) {}
  if (r < 0 && *pid > 0) {
    /* reap it if it is our child (run/exec set us as subreaper); otherwise its reaper will */
    waitpid(*pid, NULL, __WALL);
    *pid = -1;
  }
  return r;
}
