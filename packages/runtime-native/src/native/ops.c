/* The small verbs: state, ps, pause/resume, list, events. */
#include "commands.h"
#include "util.h"
#include "error.h"
#include "json.h"
#include "cgroups.h"
#include "state.h"
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <stdio.h>
#include <time.h>

int cmd_state(struct gopts *g, const char *id, struct ctl_err *e) {
  struct state st;
  if (state_load(g->root, id, &st, e) < 0) return -1;
  json_t *j = state_to_oci_json(&st);
  char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  printf("%s\n", s);
  free(s);
  json_decref(j);
  state_free(&st);
  return 0;
}

int cmd_ps(struct gopts *g, const char *id, const char *format, struct ctl_err *e) {
  struct state st;
  if (state_load(g->root, id, &st, e) < 0) return -1;
  pid_t *pids = NULL;
  int n = 0, r = -1;
  if (!st.has_cg) {
    ctl_fail_kind(e, CTL_KIND_FAILED_PRECONDITION, 0, "container %s has no cgroup", id);
    goto out;
  }
  if (cg_pids(&st.cg, &pids, &n, e) < 0) goto out;
  if (format && !strcmp(format, "json")) {
    printf("[");
    for (int i = 0; i < n; i++) printf("%s%d", i ? "," : "", pids[i]);
    printf("]\n");
  } else {
    printf("%-8s %s\n", "PID", "CMD");
    for (int i = 0; i < n; i++) {
      char path[64], *comm = NULL;
      struct ctl_err ignore;
      snprintf(path, sizeof path, "/proc/%d/comm", pids[i]);
      if (read_file(path, &comm, &ignore) < 0) continue;
      comm[strcspn(comm, "\n")] = 0;
      printf("%-8d %s\n", pids[i], comm);
      free(comm);
    }
  }
  r = 0;
out:
  free(pids);
  state_free(&st);
  return r;
}

int cmd_pause(struct gopts *g, const char *id, bool pause, struct ctl_err *e) {
  struct state st;
  if (state_load(g->root, id, &st, e) < 0) return -1;
  int r = -1;
  enum status s = state_status(&st);
  if (state_allow(pause ? V_PAUSE : V_RESUME, s, id, e) < 0)
    r = -1;
  else if (!st.has_cg)
    ctl_fail_kind(e, CTL_KIND_FAILED_PRECONDITION, 0, "container %s has no cgroup", id);
  else
    r = cg_freeze(&st.cg, pause, e);
  state_free(&st);
  return r;
}

int cmd_update(struct gopts *g, const char *id, json_t *resources, struct ctl_err *e) {
  struct state st;
  if (state_load(g->root, id, &st, e) < 0) return -1;
  int r = -1;
  if (state_allow(V_UPDATE, state_status(&st), id, e) < 0)
    r = -1;
  else if (!st.has_cg)
    ctl_fail_kind(e, CTL_KIND_FAILED_PRECONDITION, 0, "container %s has no cgroup", id);
  else
    r = cg_apply(&st.cg, resources, e);
  state_free(&st);
  return r;
}

int cmd_list(struct gopts *g, const char *format, bool quiet, struct ctl_err *e) {
  DIR *d = opendir(g->root);
  bool json = format && !strcmp(format, "json");
  json_t *arr = json_array();
  if (!d && errno != ENOENT) return SYSERR(e, "opendir", g->root);
  if (!json && !quiet) printf("%-20s %-8s %-10s %-40s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED");
  struct dirent *de;
  while (d && (de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    struct state st;
    struct ctl_err ignore;
    if (state_load(g->root, de->d_name, &st, &ignore) < 0) continue;
    json_t *j = state_to_oci_json(&st);
    if (json)
      json_array_append(arr, j);
    else if (quiet)
      printf("%s\n", st.id);
    else
      printf("%-20s %-8lld %-10s %-40s %s\n", st.id, json_integer_value(json_object_get(j, "pid")), jstr(j, "status"), st.bundle,
             st.created);
    json_decref(j);
    state_free(&st);
  }
  if (d) closedir(d);
  if (json) {
    char *s = json_dumps(arr, JSON_COMPACT | JSON_PRESERVE_ORDER);
    printf("%s\n", s);
    free(s);
  }
  json_decref(arr);
  return 0;
}

/* With cgroup (the container's cgroupsPath): the stats of that cgroup, once, for a container of
 * another runtime that has no `events` of its own (crun); the id only labels the output. */
int cmd_events(struct gopts *g, const char *id, bool stats, const char *cgroup, struct ctl_err *e) {
  if (cgroup) {
    struct cgroup cg;
    if (cg_init(&cg, cgroup, e) < 0) return -1;
    struct stat sb;
    bool there = false;
    for (int i = 0; i < cg.n; i++) there = there || stat(cg.dir[i], &sb) == 0;
    if (!there) {
      cg_free(&cg);
      return ctl_fail_kind(e, CTL_KIND_NOT_FOUND, 0, "cgroup %s does not exist", cgroup);
    }
    json_t *ev = json_pack("{s:s,s:s,s:o}", "type", "stats", "id", id, "data", cg_stats(&cg));
    char *txt = json_dumps(ev, JSON_COMPACT);
    printf("%s\n", txt);
    free(txt);
    json_decref(ev);
    cg_free(&cg);
    return 0;
  }
  for (;;) {
    struct state st;
    if (state_load(g->root, id, &st, e) < 0) return -1;
    if (!st.has_cg) {
      state_free(&st);
      return ctl_fail_kind(e, CTL_KIND_FAILED_PRECONDITION, 0, "container %s has no cgroup", id);
    }
    enum status s = state_status(&st);
    json_t *ev = json_pack("{s:s,s:s,s:o}", "type", "stats", "id", id, "data", cg_stats(&st.cg));
    char *txt = json_dumps(ev, JSON_COMPACT);
    printf("%s\n", txt);
    fflush(stdout);
    free(txt);
    json_decref(ev);
    state_free(&st);
    if (stats || s == ST_STOPPED) return 0;
    struct timespec ts = {5, 0};
    nanosleep(&ts, NULL);
  }
}
