/* Cgroups: one manager over three layouts, chosen by looking at the host.
 *   v1      - one hierarchy per controller (this machine, under /sys/fs/cgroup/<controller>)
 *   hybrid  - v1 controllers plus a v2 hierarchy at /sys/fs/cgroup/unified (the container joins both)
 *   v2      - the unified hierarchy at /sys/fs/cgroup
 * Every controller function takes its directory as a parameter. */
#include "cgroups.h"
#include "util.h"
#include "error.h"
#include "json.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

static void msleep(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

int cg_detect(enum cg_mode *mode, struct ctl_err *e) {
  struct statfs sf;
  if (statfs("/sys/fs/cgroup", &sf) < 0) return SYSERR(e, "statfs", "/sys/fs/cgroup");
  if (sf.f_type == CGROUP2_SUPER_MAGIC) {
    *mode = CG_V2;
    return 0;
  }
  *mode = (statfs("/sys/fs/cgroup/unified", &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC) ? CG_HYBRID : CG_V1;
  return 0;
}

/* Controllers we manage on v1; named hierarchies (name=systemd) are left alone. */
static bool v1_wanted(const char *opts) {
  static const char *known[] = {"cpu",  "cpuacct", "cpuset",  "memory",   "devices",    "freezer", "blkio",
                                "pids", "hugetlb", "net_cls", "net_prio", "perf_event", "rdma",    "misc"};
  cleanup_free char *buf = strdup(opts);
  for (char *s = NULL, *t = strtok_r(buf, ",", &s); t; t = strtok_r(NULL, ",", &s))
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
      if (!strcmp(t, known[i])) return true;
  return false;
}

/* Keep only the controller names from a super-options string ("rw,cpu,cpuacct" -> "cpu,cpuacct"). */
static char *v1_controllers(const char *superopts) {
  cleanup_free char *buf = strdup(superopts);
  char *out = xmalloc(strlen(superopts) + 1); /* a subset of superopts: it fits */
  for (char *s = NULL, *t = strtok_r(buf, ",", &s); t; t = strtok_r(NULL, ",", &s)) {
    if (!strcmp(t, "rw") || !strcmp(t, "ro") || strchr(t, '=') || !strcmp(t, "clone_children") || !strcmp(t, "noprefix")) continue;
    if (*out) strcat(out, ",");
    strcat(out, t);
  }
  return out;
}

/* v[n] = s in an array of n strings that grows by one (hierarchies and a path's levels are few) */
static char **strv_append(char **v, int n, char *s) {
  v = realloc(v, (n + 1) * sizeof *v);
  if (!v) abort();
  v[n] = s;
  return v;
}

static void add_hierarchy_dir(struct cgroup *cg, const char *name, const char *opts, char *dir) {
  cg->ctrl = strv_append(cg->ctrl, cg->n, strdup(name));
  cg->opts = strv_append(cg->opts, cg->n, strdup(opts));
  cg->dir = strv_append(cg->dir, cg->n, dir);
  cg->n++;
}

static void add_hierarchy(struct cgroup *cg, const char *name, const char *opts, const char *mnt) {
  add_hierarchy_dir(cg, name, opts, xasprintf("%s%s", mnt, cg->path));
}

static void add_created(struct cgroup *cg, const char *dir) {
  cg->created = strv_append(cg->created, cg->ncreated, strdup(dir));
  cg->ncreated++;
}

int cg_init(struct cgroup *cg, const char *cgpath, struct ctl_err *e) {
  memset(cg, 0, sizeof *cg);
  if (cg_detect(&cg->mode, e) < 0) return -1;
  cg->path = cgpath[0] == '/' ? strdup(cgpath) : xasprintf("/%s", cgpath);
  size_t l = strlen(cg->path);
  while (l > 1 && cg->path[l - 1] == '/') cg->path[--l] = 0;
  if (cg->mode == CG_V2) {
    add_hierarchy(cg, "unified", "", "/sys/fs/cgroup");
    return 0;
  }
  FILE *f = fopen("/proc/self/mountinfo", "re");
  if (!f) return SYSERR(e, "open", "/proc/self/mountinfo");
  /* whole lines of any length (a long line read in pieces would be parsed as several) */
  cleanup_free char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, f) > 0) {
    char *sep = strstr(line, " - ");
    if (!sep) continue;
    cleanup_free char *mnt = NULL, *fstype = NULL, *superopts = NULL;
    if (sscanf(line, "%*s %*s %*s %*s %ms", &mnt) != 1) continue;
    if (sscanf(sep + 3, "%ms %*s %ms", &fstype, &superopts) != 2) continue;
    if (strncmp(mnt, "/sys/fs/cgroup/", 15) != 0) continue;
    if (!strcmp(fstype, "cgroup") && v1_wanted(superopts)) {
      cleanup_free char *ctrls = v1_controllers(superopts);
      add_hierarchy(cg, ctrls, ctrls, mnt);
    } else if (!strcmp(fstype, "cgroup2") && cg->mode == CG_HYBRID) {
      add_hierarchy(cg, "unified", "", mnt);
    }
  }
  fclose(f);
  return 0;
}

void cg_free(struct cgroup *cg) {
  free(cg->path);
  for (int i = 0; i < cg->n; i++) {
    free(cg->ctrl[i]);
    free(cg->opts[i]);
    free(cg->dir[i]);
  }
  for (int i = 0; i < cg->ncreated; i++) free(cg->created[i]);
  free(cg->ctrl);
  free(cg->opts);
  free(cg->dir);
  free(cg->created);
  memset(cg, 0, sizeof *cg);
}

/* The directory of the hierarchy that carries controller c ("memory"; "unified" for v2). */
const char *cg_dir(struct cgroup *cg, const char *c) {
  for (int i = 0; i < cg->n; i++) {
    if (cg->mode == CG_V2) return cg->dir[i];
    cleanup_free char *buf = strdup(cg->ctrl[i]);
    for (char *s = NULL, *t = strtok_r(buf, ",", &s); t; t = strtok_r(NULL, ",", &s))
      if (!strcmp(t, c)) return cg->dir[i];
  }
  return NULL;
}

static bool is_v1_dir(struct cgroup *cg, int i) { return strcmp(cg->ctrl[i], "unified") != 0; }

int cg_write(const char *dir, const char *file, const char *val, struct ctl_err *e) {
  cleanup_free char *path = xasprintf("%s/%s", dir, file);
  return write_file(path, val, strlen(val), e);
}

int cg_writef(const char *dir, const char *file, struct ctl_err *e, const char *fmt, ...) {
  char val[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(val, sizeof val, fmt, ap);
  va_end(ap);
  return cg_write(dir, file, val, e);
}

char *cg_read(const char *dir, const char *file) {
  char *buf = NULL;
  struct ctl_err e;
  cleanup_free char *path = xasprintf("%s/%s", dir, file);
  if (read_file(path, &buf, &e) < 0) return NULL;
  return buf;
}

/* A new v1 cpuset cgroup has empty cpus/mems: copy the parent's, else no task can join it. */
static int cpuset_inherit(const char *dir, struct ctl_err *e) {
  const char *files[] = {"cpuset.cpus", "cpuset.mems"};
  cleanup_free char *parent = strdup(dir);
  *strrchr(parent, '/') = 0;
  for (int i = 0; i < 2; i++) {
    cleanup_free char *cur = cg_read(dir, files[i]);
    if (cur && cur[0] && cur[0] != '\n') continue;
    cleanup_free char *val = cg_read(parent, files[i]);
    if (!val) return ctl_fail(e, errno, "read %s/%s", parent, files[i]);
    if (cg_write(dir, files[i], val, e) < 0) return -1;
  }
  return 0;
}

/* v2: a controller is usable in a cgroup only when every ancestor enables it in
 * cgroup.subtree_control. Enabled on demand, one controller at a time, only for what the spec
 * asks for, so a container without limits changes nothing above its own cgroup. */
int cg_v2_enable(struct cgroup *cg, const char *leaf, const char *controller, const char *field, struct ctl_err *e) {
  size_t mlen = strlen(leaf) - strlen(cg->path);
  cleanup_free char *mnt = strndup(leaf, mlen);
  cleanup_free char *avail = cg_read(mnt, "cgroup.controllers");
  bool found = false;
  char *s = NULL;
  for (char *t = avail ? strtok_r(avail, " \n", &s) : NULL; t; t = strtok_r(NULL, " \n", &s))
    if (!strcmp(t, controller)) found = true;
  if (!found)
    return ctl_fail_kind(e, CTL_KIND_FAILED_PRECONDITION, 0, "%s: the %s controller is not available in the cgroup v2 hierarchy at %s",
                         field, controller, mnt);
  cleanup_free char *want = xasprintf("+%s", controller);
  cleanup_free char *cur = strdup(mnt);
  cleanup_free char *p = strdup(cg->path);
  char *save = NULL;
  /* the mount root, then every proper ancestor of the leaf */
  char *tok = strtok_r(p, "/", &save);
  for (;;) {
    cleanup_free char *sc = cg_read(cur, "cgroup.subtree_control");
    bool on = false;
    char *s2 = NULL;
    for (char *t = sc ? strtok_r(sc, " \n", &s2) : NULL; t; t = strtok_r(NULL, " \n", &s2))
      if (!strcmp(t, controller)) on = true;
    if (!on && cg_write(cur, "cgroup.subtree_control", want, e) < 0) return ctl_wrap(e, "%s: enable %s", field, controller);
    char *next_tok = strtok_r(NULL, "/", &save);
    if (!next_tok) break; /* tok is the leaf itself */
    char *next = xasprintf("%s/%s", cur, tok);
    free(cur);
    cur = next;
    tok = next_tok;
  }
  return 0;
}

int cg_create(struct cgroup *cg, struct ctl_err *e) {
  for (int i = 0; i < cg->n; i++) {
    const char *dir = cg->dir[i];
    size_t mlen = strlen(dir) - strlen(cg->path);
    cleanup_free char *mnt = strndup(dir, mlen);
    cleanup_free char *p = strdup(dir);
    bool cpuset = is_v1_dir(cg, i) && strstr(cg->ctrl[i], "cpuset") != NULL;
    int restarts = 0;
    for (char *s = p + mlen + 1;; s++) {
      if (*s != '/' && *s) continue;
      char saved = *s;
      *s = 0;
      bool made = mkdir(p, 0755) == 0;
      int err = made ? 0 : errno;
      if (made) add_created(cg, p);
      if (err && err != EEXIST && err != ENOENT) return ctl_fail(e, err, "mkdir %s", p);
      /* A shared parent (ctl, ctl/<ns>) that a concurrent create has just made may not have its
       * cpus/mems yet: whoever comes first fills them, or the leaf inherits empty ones and no
       * task can join it (ENOSPC). */
      if (err != ENOENT && cpuset && cpuset_inherit(p, e) < 0) {
        if (e->errnum != ENOENT) return -1;
        err = ENOENT;
      }
      if (err == ENOENT) {
        /* a concurrent delete (cg_destroy) removed a shared parent, or the level just made and
         * still empty, before our leaf held it: walk down from the top again */
        if (restarts++ >= 10) return ctl_fail(e, ENOENT, "mkdir %s (removed by concurrent deletes 10 times)", p);
        *s = saved;
        s = p + mlen;
        continue;
      }
      if (!saved) break;
      *s = saved;
    }
  }
  return 0;
}

int cg_enter(struct cgroup *cg, pid_t pid, struct ctl_err *e) {
  char buf[32];
  snprintf(buf, sizeof buf, "%d", pid);
  for (int i = 0; i < cg->n; i++)
    if (cg_write(cg->dir[i], "cgroup.procs", buf, e) < 0) return -1;
  return 0;
}

/* Moves the calling thread, its process's only one, into the container's v1 hierarchies: "0"
 * written to a tasks file moves the writer, and the kernel then skips the write side of the
 * cgroup threadgroup rwsem, whose first taking after a quiet spell waits for an RCU grace period
 * (10-30 ms per container start on this v1/hybrid host; cg_enter pays it). */
int cg_enter_self_v1(struct cgroup *cg, struct ctl_err *e) {
  for (int i = 0; i < cg->n; i++)
    if (is_v1_dir(cg, i) && cg_write(cg->dir[i], "tasks", "0", e) < 0) return -1;
  return 0;
}

/* ---- lifecycle ---- */

int cg_pids(struct cgroup *cg, pid_t **pids, int *n, struct ctl_err *e) {
  const char *d = cg->mode == CG_V2 ? cg->dir[0] : (cg_dir(cg, "pids") ?: cg_dir(cg, "freezer") ?: cg_dir(cg, "memory"));
  *pids = NULL;
  *n = 0;
  if (!d) return ctl_fail_kind(e, CTL_KIND_FAILED_PRECONDITION, 0, "no cgroup hierarchy to list processes from");
  cleanup_free char *path = xasprintf("%s/cgroup.procs", d);
  cleanup_free char *buf = NULL;
  if (read_file(path, &buf, e) < 0) return -1;
  int cap = 16;
  *pids = xmalloc(cap * sizeof(pid_t));
  for (char *s = NULL, *t = strtok_r(buf, "\n", &s); t; t = strtok_r(NULL, "\n", &s)) {
    if (*n == cap) {
      cap *= 2;
      *pids = realloc(*pids, cap * sizeof(pid_t));
    }
    (*pids)[(*n)++] = atoi(t);
  }
  return 0;
}

int cg_is_frozen(struct cgroup *cg) {
  if (cg->mode == CG_V2) {
    cleanup_free char *ev = cg_read(cg->dir[0], "cgroup.events");
    return ev && strstr(ev, "frozen 1") != NULL;
  }
  const char *d = cg_dir(cg, "freezer");
  if (!d) return 0;
  cleanup_free char *st = cg_read(d, "freezer.state");
  return st && !strncmp(st, "FROZEN", 6);
}

int cg_freeze(struct cgroup *cg, bool freeze, struct ctl_err *e) {
  if (cg->mode == CG_V2) {
    if (cg_write(cg->dir[0], "cgroup.freeze", freeze ? "1" : "0", e) < 0) return -1;
  } else {
    const char *d = cg_dir(cg, "freezer");
    if (!d) return ctl_fail_kind(e, CTL_KIND_FAILED_PRECONDITION, 0, "no freezer cgroup controller on this host");
    if (cg_write(d, "freezer.state", freeze ? "FROZEN" : "THAWED", e) < 0) return -1;
  }
  for (int i = 0; i < 1000; i++) {
    if (cg_is_frozen(cg) == (freeze ? 1 : 0)) return 0;
    if (freeze && cg->mode != CG_V2 && i % 10 == 9) cg_write(cg_dir(cg, "freezer"), "freezer.state", "FROZEN", e);
    msleep(1);
  }
  return ctl_fail(e, EBUSY, "%s cgroup %s", freeze ? "freeze" : "thaw", cg->path);
}

int cg_kill_all(struct cgroup *cg, int sig, struct ctl_err *e) {
  bool frozen = false;
  if (sig == SIGKILL && cg_freeze(cg, true, e) == 0) frozen = true;
  pid_t *pids = NULL;
  int n = 0;
  int r = cg_pids(cg, &pids, &n, e);
  for (int i = 0; r == 0 && i < n; i++) kill(pids[i], sig);
  free(pids);
  if (frozen) cg_freeze(cg, false, e);
  return r;
}

/* Whether path is under an engine instance's own parent: /ctl/ or /ctl-<12 hex digits>/
 * (cgroupParent in @ctl/proto's paths.ts), a tree nothing but the engine's containers uses. */
static bool under_engine_parent(const char *path) {
  if (!strncmp(path, "/ctl/", 5)) return true;
  if (strncmp(path, "/ctl-", 5)) return false;
  for (int i = 5; i < 17; i++)
    if (!path[i] || !strchr("0123456789abcdef", path[i])) return false;
  return path[17] == '/';
}

int cg_destroy(struct cgroup *cg, struct ctl_err *e) {
  /* leaves first (they must go), then the parents we made (best effort: others may share them) */
  for (int i = 0; i < cg->n; i++) {
    for (int attempt = 0;; attempt++) {
      if (rmdir(cg->dir[i]) == 0 || errno == ENOENT) break;
      if (errno != EBUSY || attempt >= 500) return SYSERR(e, "rmdir", cg->dir[i]);
      msleep(2);
    }
  }
  for (int i = cg->ncreated - 1; i >= 0; i--) rmdir(cg->created[i]);
  /* in an engine instance's own tree (/ctl or /ctl-<hash>, then /<namespace>), whichever
   * container leaves a parent last removes it, even if another one made it (the maker may have
   * gone first, while this one was still in it); one still in use stays (EBUSY) */
  if (under_engine_parent(cg->path))
    for (int i = 0; i < cg->n; i++) {
      size_t top = strlen(cg->dir[i]) - strlen(cg->path);
      cleanup_free char *parent = strdup(cg->dir[i]);
      for (char *slash; (slash = strrchr(parent, '/')) && (size_t)(slash - parent) > top;) *slash = 0, rmdir(parent);
    }
  return 0;
}

/* ---- persistence in state.json ---- */
json_t *cg_to_json(struct cgroup *cg) {
  json_t *dirs = json_array(), *created = json_array();
  for (int i = 0; i < cg->n; i++)
    json_array_append_new(dirs, json_pack("{s:s,s:s,s:s}", "controllers", cg->ctrl[i], "opts", cg->opts[i], "dir", cg->dir[i]));
  for (int i = 0; i < cg->ncreated; i++) json_array_append_new(created, json_string(cg->created[i]));
  return json_pack("{s:s,s:s,s:o,s:o}", "mode",
                   cg->mode == CG_V2       ? "v2"
                   : cg->mode == CG_HYBRID ? "hybrid"
                                           : "v1",
                   "path", cg->path, "hierarchies", dirs, "created", created);
}

int cg_from_json(struct cgroup *cg, json_t *j, struct ctl_err *e) {
  memset(cg, 0, sizeof *cg);
  const char *mode = jstr(j, "mode"), *path = jstr(j, "path");
  if (!mode || !path) return ctl_fail_kind(e, CTL_KIND_INTERNAL, 0, "state.json: cgroup record is incomplete");
  cg->mode = !strcmp(mode, "v2") ? CG_V2 : !strcmp(mode, "hybrid") ? CG_HYBRID : CG_V1;
  cg->path = strdup(path);
  size_t i;
  json_t *h;
  json_array_foreach(json_object_get(j, "hierarchies"), i, h)
      add_hierarchy_dir(cg, jstr(h, "controllers") ?: "", jstr(h, "opts") ?: "", strdup(jstr(h, "dir") ?: "/nonexistent"));
  json_array_foreach(json_object_get(j, "created"), i, h) if (json_is_string(h)) add_created(cg, json_string_value(h));
  return 0;
}

/* ---- a cgroup filesystem inside the container (spec mount of type "cgroup") ---- */
int cg_mount_in_container(struct cgroup *cg, const char *dest, unsigned long flags, bool cgroupns, struct ctl_err *e) {
  if (cg->mode == CG_V2) {
    if (cgroupns) {
      if (mount("cgroup2", dest, "cgroup2", flags, NULL) < 0) return ctl_fail(e, errno, "mount cgroup2 on %s", dest);
    } else if (mount(cg->dir[0], dest, NULL, MS_BIND | MS_REC, NULL) < 0 ||
               mount(NULL, dest, NULL, MS_BIND | MS_REMOUNT | flags, NULL) < 0) {
      return ctl_fail(e, errno, "bind %s on %s", cg->dir[0], dest);
    }
    return 0;
  }
  if (mount("tmpfs", dest, "tmpfs", (flags & ~MS_RDONLY), "mode=755") < 0) return ctl_fail(e, errno, "mount tmpfs on %s", dest);
  for (int i = 0; i < cg->n; i++) {
    if (!is_v1_dir(cg, i)) continue;
    cleanup_free char *sub = xasprintf("%s/%s", dest, cg->ctrl[i]);
    if (mkdir(sub, 0755) < 0 && errno != EEXIST) return SYSERR(e, "mkdir", sub);
    int r = cgroupns ? mount("cgroup", sub, "cgroup", flags, cg->opts[i]) : mount(cg->dir[i], sub, NULL, MS_BIND | MS_REC, NULL);
    if (r < 0) return ctl_fail(e, errno, "mount cgroup %s on %s", cg->opts[i], sub);
    if (!cgroupns && mount(NULL, sub, NULL, MS_BIND | MS_REMOUNT | flags, NULL) < 0) return ctl_fail(e, errno, "remount %s", sub);
  }
  if ((flags & MS_RDONLY) && mount(NULL, dest, NULL, MS_REMOUNT | MS_BIND | flags, NULL) < 0)
    return ctl_fail(e, errno, "remount ro %s", dest);
  return 0;
}
