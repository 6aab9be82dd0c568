/* delete: remove a stopped (or, with --force, any) container: its processes, cgroups, state. */
#include "commands.h"
#include "util.h"
#include "error.h"
#include "spec.h"
#include "hooks.h"
#include "cgroups.h"
#include "mounts.h"
#include "state.h"
#include <jansson.h>
#include <stdlib.h>
#include <signal.h>
#include <time.h>

static void msleep(int ms) {
  struct timespec ts = {0, ms * 1000000L};
  nanosleep(&ts, NULL);
}

int cmd_delete(struct gopts *g, const char *id, bool force, struct ctl_err *e) {
  struct state st;
  if (state_load(g->root, id, &st, e) < 0) return -1;
  int r = -1;
  enum status s = state_status(&st);
  if (state_allow(force ? V_FORCE_DELETE : V_DELETE, s, id, e) < 0) goto out;
  if (s != ST_STOPPED) {
    /* created (never started), or --force: SIGKILL everything and wait for it to be gone */
    if (st.has_cg) cg_kill_all(&st.cg, SIGKILL, e);
    if (st.pid > 0) kill(st.pid, SIGKILL);
    for (int i = 0; i < 2000 && state_status(&st) != ST_STOPPED; i++) msleep(1);
  }
  if (st.has_cg) {
    pid_t *pids = NULL;
    int n = 0;
    for (int i = 0; i < 2000; i++) {
      if (cg_pids(&st.cg, &pids, &n, e) < 0 || n == 0) break;
      if (i % 50 == 0) cg_kill_all(&st.cg, SIGKILL, e);
      free(pids);
      pids = NULL;
      msleep(1);
    }
    free(pids);
    if (cg_destroy(&st.cg, e) < 0) goto out;
  }
  if (mounts_release_host(st.rootfs, st.host_mount_id, e) < 0) goto out;
  json_t *spec = spec_load_unchecked(st.bundle);
  hooks_run_warn(spec, "poststop", &st);
  if (spec) json_decref(spec);
  safe_rmdir_r(st.dir);
  r = 0;
out:
  state_free(&st);
  return r;
}
