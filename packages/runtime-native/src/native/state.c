/* Container state on disk: <root>/<id>/state.json (written atomically) and exec.fifo while
 * the init waits for start. The status is derived, never stored: the init process's liveness
 * (pid plus start time, so a reused pid is not mistaken for it), the fifo and the freezer. */
#include "state.h"
#include "util.h"
#include "error.h"
#include "json.h"
#include "cgroups.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <stdio.h>
#include <sys/stat.h>

int state_id_valid(const char *id, struct ctl_err *e) {
  if (!id || !*id) return ctl_fail(e, 0, "container id cannot be empty");
  if (strlen(id) > 1024) return ctl_fail(e, 0, "invalid container ID format: too long");
  for (const char *p = id; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("_+-.", *p)))
      return ctl_fail(e, 0, "invalid container ID format: %s", id);
  if (!strcmp(id, ".") || !strcmp(id, "..")) return ctl_fail(e, 0, "invalid container ID format: %s", id);
  return 0;
}

char *state_dir(const char *root, const char *id) { return xasprintf("%s/%s", root, id); }

/* starttime (field 22) of /proc/PID/stat, 0 if gone or a zombie */
unsigned long long proc_start_time(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "re");
  if (!f) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return 0;
  char st;
  unsigned long long start = 0;
  if (sscanf(p + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu", &st, &start) != 2) return 0;
  if (st == 'Z' || st == 'X') return 0;
  return start;
}

int state_load(const char *root, const char *id, struct state *s, struct ctl_err *e) {
  memset(s, 0, sizeof *s);
  if (state_id_valid(id, e) < 0) return -1;
  s->dir = state_dir(root, id);
  cleanup_free char *path = xasprintf("%s/state.json", s->dir);
  json_error_t jerr;
  json_t *j = json_load_file(path, 0, &jerr);
  if (!j) {
    int err = errno;
    struct stat st;
    if (stat(path, &st) < 0) return ctl_fail_kind(e, CTL_KIND_NOT_FOUND, 0, "container %s does not exist", id);
    return ctl_fail(e, err, "read %s: %s", path, jerr.text);
  }
  s->id = strdup(id);
  s->bundle = strdup(jstr(j, "bundle") ?: "");
  s->rootfs = strdup(jstr(j, "rootfs") ?: "");
  s->created = strdup(jstr(j, "created") ?: "");
  long long v = 0;
  if (jint(j, "pid", &v)) s->pid = (pid_t)v;
  if (jint(j, "pidStart", &v)) s->start_time = (unsigned long long)v;
  if (jint(j, "hostMountId", &v)) s->host_mount_id = (unsigned long long)v;
  s->annotations = json_incref(json_object_get(j, "annotations"));
  json_t *cg = json_object_get(j, "cgroup");
  if (cg) {
    if (cg_from_json(&s->cg, cg, e) < 0) {
      json_decref(j);
      return -1;
    }
    s->has_cg = true;
  }
  json_decref(j);
  return 0;
}

int state_save(struct state *s, struct ctl_err *e) {
  json_t *j = json_pack("{s:s,s:s,s:i,s:I,s:s,s:s,s:s,s:s}", "ociVersion", CTL_OCI_VERSION, "id", s->id, "pid", (int)s->pid, "pidStart",
                        (json_int_t)s->start_time, "bundle", s->bundle, "rootfs", s->rootfs, "created", s->created, "owner", "");
  if (s->annotations) json_object_set(j, "annotations", s->annotations);
  if (s->has_cg) json_object_set_new(j, "cgroup", cg_to_json(&s->cg));
  if (s->host_mount_id) json_object_set_new(j, "hostMountId", json_integer((json_int_t)s->host_mount_id));
  char *text = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  cleanup_free char *path = xasprintf("%s/state.json", s->dir);
  int r = write_file_atomic(path, text, strlen(text), e);
  free(text);
  return r;
}

void state_free(struct state *s) {
  free(s->id);
  free(s->bundle);
  free(s->rootfs);
  free(s->created);
  free(s->dir);
  if (s->annotations) json_decref(s->annotations);
  if (s->has_cg) cg_free(&s->cg);
  memset(s, 0, sizeof *s);
}

enum status state_status(struct state *s) {
  if (s->pid <= 0) return ST_STOPPED;
  unsigned long long st = proc_start_time(s->pid);
  if (!st || (s->start_time && st != s->start_time)) return ST_STOPPED;
  cleanup_free char *fifo = xasprintf("%s/exec.fifo", s->dir);
  if (access(fifo, F_OK) == 0) return ST_CREATED;
  if (s->has_cg && cg_is_frozen(&s->cg) == 1) return ST_PAUSED;
  return ST_RUNNING;
}

const char *status_name(enum status st) {
  static const char *names[] = {"creating", "created", "running", "paused", "stopped"};
  return names[st];
}

json_t *state_to_oci_json(struct state *s) {
  enum status st = state_status(s);
  json_t *j =
      json_pack("{s:s,s:s,s:i,s:s,s:s,s:s,s:s,s:s}", "ociVersion", CTL_OCI_VERSION, "id", s->id, "pid", st == ST_STOPPED ? 0 : (int)s->pid,
                "status", status_name(st), "bundle", s->bundle, "rootfs", s->rootfs, "created", s->created, "owner", "");
  json_object_set_new(j, "annotations", s->annotations ? json_incref(s->annotations) : json_object());
  return j;
}

/*            created  running  paused  stopped       (creating never reaches a verb) */
static const bool ALLOWED[][5] = {
    [V_START] = {[ST_CREATED] = true},
    [V_KILL] = {[ST_CREATED] = true, [ST_RUNNING] = true, [ST_PAUSED] = true},
    [V_DELETE] = {[ST_CREATED] = true, [ST_STOPPED] = true},
    [V_FORCE_DELETE] = {[ST_CREATED] = true, [ST_RUNNING] = true, [ST_PAUSED] = true, [ST_STOPPED] = true},
    [V_EXEC] = {[ST_CREATED] = true, [ST_RUNNING] = true},
    [V_PAUSE] = {[ST_CREATED] = true, [ST_RUNNING] = true},
    [V_RESUME] = {[ST_PAUSED] = true},
    [V_UPDATE] = {[ST_CREATED] = true, [ST_RUNNING] = true, [ST_PAUSED] = true},
};

int state_allow(enum verb v, enum status st, const char *id, struct ctl_err *e) {
  if (ALLOWED[v][st]) return 0;
  switch (v) {
  case V_START:
    return ctl_fail_kind(e, CTL_KIND_FAILED_PRECONDITION, 0,
                         st == ST_STOPPED ? "cannot start a stopped container (container not running): %s"
                                          : "cannot start an already started container: %s",
                         id);
  case V_DELETE:
    return ctl_fail_kind(e, CTL_KIND_FAILED_PRECONDITION, 0, "cannot delete container %s that is not stopped: container still running", id);
  case V_EXEC:
    return ctl_fail_kind(e, CTL_KIND_FAILED_PRECONDITION, 0,
                         st == ST_PAUSED ? "cannot exec in a paused container: container paused: %s"
                                         : "cannot exec in a stopped container: container not running: %s",
                         id);
  case V_RESUME:
    return ctl_fail_kind(e, CTL_KIND_FAILED_PRECONDITION, 0, "container not paused: %s", id);
  default:
    return ctl_fail_kind(e, CTL_KIND_FAILED_PRECONDITION, 0, "container not running: %s", id);
  }
}
