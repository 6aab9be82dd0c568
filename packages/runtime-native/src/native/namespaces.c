/* Namespaces: which to create, which to join (by path), and the user namespace id maps. */
#include "namespaces.h"
#include "util.h"
#include "error.h"
#include "json.h"
#include "loopback.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <sys/stat.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static const struct {
  const char *name; /* OCI name */
  const char *proc; /* /proc/PID/ns entry */
  int flag;
} NS[NS_COUNT] = {
    [NS_USER] = {"user", "user", CLONE_NEWUSER},
    [NS_MNT] = {"mount", "mnt", CLONE_NEWNS},
    [NS_PID] = {"pid", "pid", CLONE_NEWPID},
    [NS_NET] = {"network", "net", CLONE_NEWNET},
    [NS_IPC] = {"ipc", "ipc", CLONE_NEWIPC},
    [NS_UTS] = {"uts", "uts", CLONE_NEWUTS},
    [NS_CGROUP] = {"cgroup", "cgroup", CLONE_NEWCGROUP},
    [NS_TIME] = {"time", "time", CLONE_NEWTIME},
};

int ns_type_from_name(const char *name) {
  for (int i = 0; i < NS_COUNT; i++)
    if (!strcmp(name, NS[i].name)) return i;
  return -1;
}
const char *ns_name(int type) { return NS[type].name; }
int ns_clone_flag(int type) { return NS[type].flag; }

int ns_plan_from_spec(json_t *spec, struct ns_plan *p, struct ctl_err *e) {
  memset(p, 0, sizeof *p);
  size_t i;
  json_t *ns;
  json_array_foreach(jpath(spec, "linux.namespaces"), i, ns) {
    int t = ns_type_from_name(jstr(ns, "type"));
    if (t < 0) return ctl_fail(e, 0, "config.json: linux.namespaces[%zu].type: unknown namespace type", i);
    p->has[t] = true;
    const char *path = jstr(ns, "path");
    if (path && *path)
      p->join[t] = strdup(path);
    else
      p->new_flags |= NS[t].flag;
  }
  return 0;
}

/* The namespaces of a running process that differ from ours: what exec must join. */
int ns_plan_for_pid(pid_t pid, struct ns_plan *p, struct ctl_err *e) {
  memset(p, 0, sizeof *p);
  for (int t = 0; t < NS_COUNT; t++) {
    char theirs[64], ours[64];
    struct stat a, b;
    snprintf(theirs, sizeof theirs, "/proc/%d/ns/%s", pid, NS[t].proc);
    snprintf(ours, sizeof ours, "/proc/self/ns/%s", NS[t].proc);
    if (stat(theirs, &a) < 0) {
      if (errno == ENOENT && t == NS_TIME) continue;
      return SYSERR(e, "stat", theirs);
    }
    if (stat(ours, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) continue;
    p->join[t] = strdup(theirs);
    p->has[t] = true;
  }
  return 0;
}

bool ns_is_current(int type, const char *path) {
  char ours[64];
  struct stat a, b;
  snprintf(ours, sizeof ours, "/proc/self/ns/%s", NS[type].proc);
  return path && stat(path, &a) == 0 && stat(ours, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

void ns_plan_free(struct ns_plan *p) {
  for (int t = 0; t < NS_COUNT; t++) free(p->join[t]);
}

/* setns into the planned paths. The user namespace goes first (it grants the capabilities the
 * others need) unless skip_user; the mount namespace goes last. */
int ns_join(struct ns_plan *p, bool user_only, bool skip_user, struct ctl_err *e) {
  static const int order[] = {NS_USER, NS_IPC, NS_UTS, NS_NET, NS_PID, NS_CGROUP, NS_TIME, NS_MNT};
  int fds[NS_COUNT];
  for (int t = 0; t < NS_COUNT; t++) fds[t] = -1;
  /* open all first: after joining the mount namespace the paths may be gone */
  for (int i = 0; i < NS_COUNT; i++) {
    int t = order[i];
    if (!p->join[t] || (user_only && t != NS_USER) || (skip_user && t == NS_USER)) continue;
    fds[t] = open(p->join[t], O_RDONLY | O_CLOEXEC);
    if (fds[t] < 0) {
      ctl_fail(e, errno, "open %s namespace %s", NS[t].name, p->join[t]);
      goto fail;
    }
  }
  for (int i = 0; i < NS_COUNT; i++) {
    int t = order[i];
    if (fds[t] < 0) continue;
    if (setns(fds[t], NS[t].flag) < 0) {
      ctl_fail(e, errno, "setns %s namespace %s", NS[t].name, p->join[t]);
      goto fail;
    }
    close(fds[t]);
    fds[t] = -1;
  }
  return 0;
fail:
  for (int t = 0; t < NS_COUNT; t++)
    if (fds[t] >= 0) close(fds[t]);
  return -1;
}

static int write_map(pid_t pid, const char *file, json_t *maps, struct ctl_err *e) {
  char path[64], buf[4096];
  size_t off = 0, i;
  json_t *m;
  json_array_foreach(maps, i, m) {
    long long c = 0, h = 0, s = 0;
    jint(m, "containerID", &c);
    jint(m, "hostID", &h);
    jint(m, "size", &s);
    off += snprintf(buf + off, sizeof buf - off, "%lld %lld %lld\n", c, h, s);
    if (off >= sizeof buf) return ctl_fail(e, E2BIG, "linux.%s: too many mappings", file);
  }
  snprintf(path, sizeof path, "/proc/%d/%s", pid, file);
  if (write_file(path, buf, off, e) < 0)
    return ctl_fail(e, e->errnum, "config.json: linux.%s: write %s", !strcmp(file, "uid_map") ? "uidMappings" : "gidMappings", path);
  return 0;
}

/* Written by the parent (which holds CAP_SETUID/SETGID in the parent namespace). */
int ns_write_id_maps(pid_t pid, json_t *spec, struct ctl_err *e) {
  if (write_map(pid, "uid_map", jpath(spec, "linux.uidMappings"), e) < 0) return -1;
  if (write_map(pid, "gid_map", jpath(spec, "linux.gidMappings"), e) < 0) return -1;
  return 0;
}

int ns_loopback_up(struct ctl_err *e) {
  if (ctl_loopback_up() < 0) return ctl_fail(e, errno, "bring up lo in the new network namespace");
  return 0;
}
