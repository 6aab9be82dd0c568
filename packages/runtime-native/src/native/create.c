/* create: validate the bundle, make the state dir, exec.fifo and cgroup, spawn the container's
 * init (which stops before execve until `start`), record the state and the pid file.
 * run: the same without the fifo, then wait for the init and delete. */
#include "commands.h"
#include "util.h"
#include "error.h"
#include "json.h"
#include "spec.h"
#include "hooks.h"
#include "namespaces.h"
#include "cgroups.h"
#include "mounts.h"
#include "process.h"
#include "state.h"
#include "spawn.h"
#include "clock.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sched.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char *cgroups_path(json_t *spec, const char *id, bool systemd) {
  const char *p = jstr(jpath(spec, "linux"), "cgroupsPath");
  if (!p || !*p) return xasprintf("/ctl/%s", id);
  if (systemd || (p[0] != '/' && strchr(p, ':'))) {
    /* slice:prefix:name -> /slice/prefix-name.scope (cgroupfs layout, no systemd calls) */
    char slice[256] = "", prefix[256] = "", name[256] = "";
    if (sscanf(p, "%255[^:]:%255[^:]:%255s", slice, prefix, name) == 3)
      return xasprintf("/%s/%s-%s.scope", *slice ? slice : "system.slice", prefix, name);
  }
  return strdup(p);
}

static int write_pid_file(const char *path, pid_t pid, struct ctl_err *e) {
  char buf[32];
  int n = snprintf(buf, sizeof buf, "%d", pid); /* no trailing newline: go-runc parses it with Atoi */
  return write_file_atomic(path, buf, n, e);
}

/* On success *out_pid is the init's host pid; the caller owns *st. */
static int do_create(struct gopts *g, const char *id, struct create_opts *o, struct state *st, pid_t *out_pid, struct ctl_err *e) {
  memset(st, 0, sizeof *st);
  if (state_id_valid(id, e) < 0) return -1;
  char bundle[PATH_MAX];
  if (!realpath(o->bundle ? o->bundle : ".", bundle)) return ctl_fail(e, errno, "bundle %s", o->bundle ? o->bundle : ".");
  cleanup_json json_t *spec = spec_load(bundle, e);
  if (!spec) return -1;
  json_t *process = json_object_get(spec, "process");
  if (jbool(process, "terminal") && !o->console_socket) return ctl_fail(e, 0, "process.terminal is true: --console-socket is required");
  const char *rp = jstr(json_object_get(spec, "root"), "path");
  char rootfs[PATH_MAX];
  cleanup_free char *rootrel = rp[0] == '/' ? strdup(rp) : xasprintf("%s/%s", bundle, rp);
  if (!realpath(rootrel, rootfs)) return ctl_fail(e, errno, "config.json: root.path: rootfs %s", rootrel);

  struct spawn sp = {.spec = spec, .process = process, .fifo_fd = -1, .console_fd = -1, .no_new_keyring = o->no_new_keyring};
  if (ns_plan_from_spec(spec, &sp.plan, e) < 0) return -1;

  if (mkdir_p(g->root, 0711, e) < 0) return ns_plan_free(&sp.plan), -1;
  st->dir = state_dir(g->root, id);
  if (mkdir(st->dir, 0711) < 0) {
    int err = errno;
    ns_plan_free(&sp.plan);
    free(st->dir);
    st->dir = NULL;
    if (err == EEXIST) return ctl_fail_kind(e, CTL_KIND_ALREADY_EXISTS, 0, "container with given ID already exists: %s", id);
    return ctl_fail(e, err, "mkdir %s", g->root);
  }
  /* from here on, failure undoes everything made */
  st->id = strdup(id);
  st->bundle = strdup(bundle);
  st->rootfs = strdup(rootfs);
  char t[64];
  ctl_rfc3339(t, sizeof t);
  st->created = strdup(t);
  st->annotations = json_incref(json_object_get(spec, "annotations"));
  int r = -1;
  cleanup_free char *fifo = xasprintf("%s/exec.fifo", st->dir);
  if (!o->run) {
    /* 0622 (not cut by the umask): an init whose root is an unprivileged host uid must write it */
    if (mkfifo(fifo, 0622) < 0 || chmod(fifo, 0622) < 0) {
      SYSERR(e, "mkfifo", fifo);
      goto fail;
    }
    sp.fifo_fd = open(fifo, O_PATH | O_CLOEXEC);
    if (sp.fifo_fd < 0) {
      SYSERR(e, "open", fifo);
      goto fail;
    }
  }
  cleanup_free char *cgp = cgroups_path(spec, id, g->systemd_cgroup);
  if (cg_init(&st->cg, cgp, e) < 0) goto fail;
  st->has_cg = true;
  if (cg_create(&st->cg, e) < 0 || cg_apply(&st->cg, jpath(spec, "linux.resources"), e) < 0) goto fail;
  if (o->console_socket && jbool(process, "terminal")) {
    sp.console_fd = console_socket_connect(o->console_socket, e);
    if (sp.console_fd < 0) goto fail;
  }
  sp.cg = &st->cg;
  sp.mctx = (struct mount_ctx){.spec = spec,
                               .bundle = bundle,
                               .cg = &st->cg,
                               .rootfs = rootfs,
                               .userns = sp.plan.has[NS_USER],
                               .cgroupns = sp.plan.has[NS_CGROUP],
                               .no_pivot = o->no_pivot,
                               /* joining our own mount namespace by path is inheriting it: never pivot ours */
                               .host_mntns = !sp.plan.has[NS_MNT] || ns_is_current(NS_MNT, sp.plan.join[NS_MNT]),
                               .terminal = jbool(process, "terminal")};
  pid_t pid;
  sp.cache_dir = g->root;
  /* a container without a mount namespace stacks its rootfs bind in ours: remember which it is */
  unsigned long long below = sp.mctx.host_mntns ? mounts_top_id(rootfs) : 0;
  int spawned = spawn_process(&sp, &pid, e);
  if (sp.mctx.host_mntns && mounts_top_id(rootfs) != below) st->host_mount_id = mounts_top_id(rootfs);
  if (spawned < 0) goto fail;
  st->pid = pid;
  st->start_time = proc_start_time(pid);
  if (state_save(st, e) < 0) {
    kill(pid, SIGKILL);
    goto fail;
  }
  if (json_object_get(spec, "hooks")) {
    json_t *sj = state_to_oci_json(st);
    json_object_set_new(sj, "status", json_string(o->run ? "running" : "created"));
    const char *kinds[] = {"prestart", "createRuntime", "createContainer"};
    for (int k = 0; k < 3; k++)
      if (hooks_run(spec, kinds[k], sj, e) < 0) {
        json_decref(sj);
        kill(pid, SIGKILL);
        goto fail;
      }
    json_decref(sj);
  }
  if (o->pid_file && write_pid_file(o->pid_file, pid, e) < 0) {
    kill(pid, SIGKILL);
    goto fail;
  }
  *out_pid = pid;
  r = 0;
  goto out;
fail:
  if (st->has_cg) {
    struct ctl_err ignore;
    cg_kill_all(&st->cg, SIGKILL, &ignore);
    cg_destroy(&st->cg, &ignore);
  }
  if (st->host_mount_id) {
    struct ctl_err ignore;
    mounts_release_host(rootfs, st->host_mount_id, &ignore);
  }
  safe_rmdir_r(st->dir);
out:
  if (sp.fifo_fd >= 0) close(sp.fifo_fd);
  if (sp.console_fd >= 0) close(sp.console_fd);
  ns_plan_free(&sp.plan);
  return r;
}

int cmd_create(struct gopts *g, const char *id, struct create_opts *o, struct ctl_err *e) {
  struct state st;
  pid_t pid;
  int r = do_create(g, id, o, &st, &pid, e);
  state_free(&st);
  return r;
}

static int destroy_state(struct state *st, struct ctl_err *e) {
  if (st->has_cg && cg_destroy(&st->cg, e) < 0) return -1;
  if (mounts_release_host(st->rootfs, st->host_mount_id, e) < 0) return -1;
  safe_rmdir_r(st->dir);
  return 0;
}

static pid_t forward_to = -1;
static void forward(int sig) {
  if (forward_to > 0) kill(forward_to, sig);
}

/* run: create + start + wait, the exit code is the container's (128+signal when killed). */
int cmd_run(struct gopts *g, const char *id, struct create_opts *o, struct ctl_err *e) {
  struct state st;
  pid_t pid;
  if (!o->detach) prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  o->run = !o->detach;
  if (do_create(g, id, o, &st, &pid, e) < 0) {
    state_free(&st);
    return -1;
  }
  if (o->detach) {
    state_free(&st);
    return cmd_start(g, id, e) < 0 ? -1 : 0;
  }
  cleanup_json json_t *spec = spec_load_unchecked(st.bundle);
  hooks_run_warn(spec, "poststart", &st);
  forward_to = pid;
  int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
  for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) signal(sigs[i], forward);
  int status = 0, code = 255;
  for (;;) {
    pid_t w = waitpid(-1, &status, __WALL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) break;
    if (w == pid) {
      code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
  }
  struct ctl_err ignore;
  if (st.has_cg) cg_kill_all(&st.cg, SIGKILL, &ignore);
  while (waitpid(-1, NULL, __WALL | WNOHANG) > 0) {}
  hooks_run_warn(spec, "poststop", &st);
  if (destroy_state(&st, e) < 0) ctl_log("warning", "%s", e->msg);
  state_free(&st);
  return code;
}
