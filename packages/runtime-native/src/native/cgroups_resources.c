/* linux.resources onto a container's cgroup, on v1 (and this host's hybrid layout) and v2.
 * The rule: a field either lands in its file or fails create (and update) with an error that
 * names it; a limit is never dropped quietly. A controller the host lacks, or a field the
 * cgroup version has no file for, is FailedPrecondition; a value out of range InvalidArgument.
 * Two exceptions, logged as warnings: memory.kernel (deprecated by the runtime-spec, which lets
 * runtimes ignore it; this kernel accepts the write and ignores it) and devices on v2 (needs
 * a BPF program, not done: see the README). */
#include "cgroups.h"
#include "util.h"
#include "error.h"
#include "json.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <stdio.h>

#define RES "linux.resources."

static int missing(struct ctl_err *e, const char *field, const char *controller) {
  return ctl_fail_kind(e, CTL_KIND_FAILED_PRECONDITION, 0, RES "%s: this host has no %s cgroup controller", field, controller);
}

static int unsupported(struct ctl_err *e, const char *field, const char *why) {
  return ctl_fail_kind(e, CTL_KIND_FAILED_PRECONDITION, 0, RES "%s: %s", field, why);
}

/* the key is present with a value (null counts as absent) */
static bool has(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  return v && !json_is_null(v);
}

static bool file_exists(const char *dir, const char *file) {
  cleanup_free char *p = xasprintf("%s/%s", dir, file);
  return access(p, F_OK) == 0;
}

/* memory.kernel: see the top of the file */
static void kernel_memory_ignored(json_t *mem) {
  if (has(mem, "kernel"))
    ctl_log("warning", RES "memory.kernel ignored: kernel memory limits are deprecated (runtime-spec) and this kernel ignores them");
}

/* checkBeforeUpdate: a limit below what the cgroup already uses is refused */
static int check_before_update(json_t *mem, const char *d, const char *usage_file, struct ctl_err *e) {
  long long limit = 0;
  if (!jbool(mem, "checkBeforeUpdate") || !jint(mem, "limit", &limit) || limit <= 0) return 0;
  cleanup_free char *cur = cg_read(d, usage_file);
  long long used = cur ? atoll(cur) : 0;
  if (used > limit)
    return ctl_fail_kind(e, CTL_KIND_FAILED_PRECONDITION, 0, RES "memory.limit: %lld is below the current usage %lld (checkBeforeUpdate)",
                         limit, used);
  return 0;
}

static int swappiness_valid(json_t *mem, long long *v, struct ctl_err *e) {
  if (!jint(mem, "swappiness", v) || *v == -1) return 0; /* -1: the kernel's default */
  if (*v < 0 || *v > 100) return ctl_fail(e, 0, RES "memory.swappiness: %lld is outside 0-100", *v);
  return 1;
}

/* rdma: {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}} -> "mlx5_1 hca_handle=3 hca_object=10000" (rdma.max, v1 and v2) */
static int rdma(const char *d, json_t *devs, struct ctl_err *e) {
  const char *name;
  json_t *lim;
  json_object_foreach(devs, name, lim) {
    long long h = 0, o = 0;
    char line[256];
    int n = snprintf(line, sizeof line, "%s", name);
    if (jint(lim, "hcaHandles", &h)) n += snprintf(line + n, sizeof line - n, " hca_handle=%lld", h);
    if (jint(lim, "hcaObjects", &o)) snprintf(line + n, sizeof line - n, " hca_object=%lld", o);
    if (cg_write(d, "rdma.max", line, e) < 0) return ctl_wrap(e, RES "rdma.%s", name);
  }
  return 0;
}

static int devices_v1(const char *dir, json_t *rules, struct ctl_err *e) {
  size_t i;
  json_t *r;
  json_array_foreach(rules, i, r) {
    const char *type = jstr(r, "type"), *access = jstr(r, "access");
    long long maj = -1, min = -1;
    bool has_maj = jint(r, "major", &maj), has_min = jint(r, "minor", &min);
    char rule[128], majs[24] = "*", mins[24] = "*";
    if (has_maj && maj >= 0) snprintf(majs, sizeof majs, "%lld", maj);
    if (has_min && min >= 0) snprintf(mins, sizeof mins, "%lld", min);
    if (!type || !strcmp(type, "a"))
      snprintf(rule, sizeof rule, "a *:* %s", access ? access : "rwm");
    else
      snprintf(rule, sizeof rule, "%s %s:%s %s", type, majs, mins, access ? access : "rwm");
    if (cg_write(dir, jbool(r, "allow") ? "devices.allow" : "devices.deny", rule, e) < 0) return ctl_wrap(e, RES "devices[%zu]", i);
  }
  /* as runc: mknod of anything, and the devices every container gets, stay allowed */
  static const char *defaults[] = {"c *:* m",   "b *:* m",   "c 1:3 rwm",   "c 1:8 rwm", "c 1:7 rwm",   "c 5:0 rwm",
                                   "c 1:5 rwm", "c 1:9 rwm", "c 136:* rwm", "c 5:2 rwm", "c 10:200 rwm"};
  if (json_array_size(rules))
    for (size_t k = 0; k < sizeof defaults / sizeof *defaults; k++)
      if (cg_write(dir, "devices.allow", defaults[k], e) < 0) return ctl_wrap(e, "default device rule \"%s\"", defaults[k]);
  return 0;
}

static int throttles(const char *d, json_t *bio, bool v2, struct ctl_err *e) {
  static const struct {
    const char *field, *v1file, *v2key;
  } T[] = {{"throttleReadBpsDevice", "blkio.throttle.read_bps_device", "rbps"},
           {"throttleWriteBpsDevice", "blkio.throttle.write_bps_device", "wbps"},
           {"throttleReadIOPSDevice", "blkio.throttle.read_iops_device", "riops"},
           {"throttleWriteIOPSDevice", "blkio.throttle.write_iops_device", "wiops"}};
  for (size_t k = 0; k < sizeof T / sizeof *T; k++) {
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(bio, T[k].field), i, t) {
      long long maj = 0, min = 0, rate = 0;
      jint(t, "major", &maj);
      jint(t, "minor", &min);
      jint(t, "rate", &rate);
      int r = v2 ? cg_writef(d, "io.max", e, "%lld:%lld %s=%lld", maj, min, T[k].v2key, rate)
                 : cg_writef(d, T[k].v1file, e, "%lld:%lld %lld", maj, min, rate);
      if (r < 0) return ctl_wrap(e, RES "blockIO.%s[%zu]", T[k].field, i);
    }
  }
  return 0;
}

/* the fields of o that a cgroup version has no file for: present (non-zero) -> refused */
static int refuse_fields(json_t *o, const char *section, const char *const *keys, const char *why, struct ctl_err *e) {
  for (; *keys; keys++) {
    long long v = 0;
    json_t *j = json_object_get(o, *keys);
    if (!j || json_is_null(j) || (jint(o, *keys, &v) && v == 0) || json_is_false(j)) continue;
    cleanup_free char *field = xasprintf("%s.%s", section, *keys);
    return unsupported(e, field, why);
  }
  return 0;
}

/* blkio's weight range (10-1000) onto io.weight's (1-10000) */
static long long io_weight(long long w) { return 1 + ((w - 10) * 9999) / 990; }

/* weightDevice[]: "MAJ:MIN WEIGHT" into the BFQ file, else the generic one (v2: io.weight's
 * range); leafWeight only on v1, where the file exists (CFQ), refused on v2 */
static int weight_devices(const char *d, json_t *bio, bool v2, struct ctl_err *e) {
  size_t i;
  json_t *wd;
  json_array_foreach(json_object_get(bio, "weightDevice"), i, wd) {
    long long maj = 0, min = 0, w = 0;
    jint(wd, "major", &maj);
    jint(wd, "minor", &min);
    if (jint(wd, "weight", &w) && cg_writef(d, v2 ? "io.bfq.weight" : "blkio.bfq.weight_device", e, "%lld:%lld %lld", maj, min, w) < 0 &&
        cg_writef(d, v2 ? "io.weight" : "blkio.weight_device", e, "%lld:%lld %lld", maj, min, v2 ? io_weight(w) : w) < 0)
      return ctl_wrap(e, RES "blockIO.weightDevice[%zu].weight", i);
    if (!jint(wd, "leafWeight", &w)) continue;
    if (v2) return ctl_fail_kind(e, CTL_KIND_FAILED_PRECONDITION, 0, RES "blockIO.weightDevice[%zu].leafWeight: cgroup v2 has none", i);
    if (cg_writef(d, "blkio.leaf_weight_device", e, "%lld:%lld %lld", maj, min, w) < 0)
      return ctl_wrap(e, RES "blockIO.weightDevice[%zu].leafWeight", i);
  }
  return 0;
}

/* ---- v1 ---- */

static int memory_v1(struct cgroup *cg, json_t *mem, struct ctl_err *e) {
  if (!json_object_size(mem)) return 0;
  const char *d = cg_dir(cg, "memory");
  if (!d) return missing(e, "memory", "memory");
  long long v, limit = 0, swap = 0;
  bool has_limit = jint(mem, "limit", &limit), has_swap = jint(mem, "swap", &swap);
  bool memsw = file_exists(d, "memory.memsw.limit_in_bytes");
  if (has_swap && swap > 0 && !memsw)
    return unsupported(e, "memory.swap", "swap accounting is off on this host (no memory.memsw.limit_in_bytes)");
  if (check_before_update(mem, d, "memory.usage_in_bytes", e) < 0) return -1;
  if (has_limit && cg_writef(d, "memory.limit_in_bytes", e, "%lld", limit) < 0) {
    /* lowering below the current mem+swap limit: set swap first */
    if (!has_swap || !memsw || cg_writef(d, "memory.memsw.limit_in_bytes", e, "%lld", swap) < 0 ||
        cg_writef(d, "memory.limit_in_bytes", e, "%lld", limit) < 0)
      return ctl_wrap(e, RES "memory.limit");
  }
  if (has_swap && swap != 0 && memsw && cg_writef(d, "memory.memsw.limit_in_bytes", e, "%lld", swap) < 0)
    return ctl_wrap(e, RES "memory.swap");
  if (jint(mem, "reservation", &v) && cg_writef(d, "memory.soft_limit_in_bytes", e, "%lld", v) < 0)
    return ctl_wrap(e, RES "memory.reservation");
  int sw = swappiness_valid(mem, &v, e);
  if (sw < 0 || (sw && cg_writef(d, "memory.swappiness", e, "%lld", v) < 0)) return ctl_wrap(e, RES "memory.swappiness");
  if (has(mem, "disableOOMKiller") && cg_write(d, "memory.oom_control", jbool(mem, "disableOOMKiller") ? "1" : "0", e) < 0)
    return ctl_wrap(e, RES "memory.disableOOMKiller");
  if (has(mem, "useHierarchy") && cg_write(d, "memory.use_hierarchy", jbool(mem, "useHierarchy") ? "1" : "0", e) < 0)
    return ctl_wrap(e, RES "memory.useHierarchy");
  if (jint(mem, "kernelTCP", &v) && cg_writef(d, "memory.kmem.tcp.limit_in_bytes", e, "%lld", v) < 0)
    return ctl_wrap(e, RES "memory.kernelTCP");
  kernel_memory_ignored(mem);
  return 0;
}

static int cpu_v1(struct cgroup *cg, json_t *cpu, struct ctl_err *e) {
  static const struct {
    const char *key, *file;
    bool zero_is_unset;
  } F[] = {
      {"shares", "cpu.shares", true},       {"period", "cpu.cfs_period_us", true},        {"quota", "cpu.cfs_quota_us", true},
      {"burst", "cpu.cfs_burst_us", false}, {"realtimePeriod", "cpu.rt_period_us", true}, {"realtimeRuntime", "cpu.rt_runtime_us", true},
      {"idle", "cpu.idle", false}};
  const char *d = cg_dir(cg, "cpu");
  for (size_t k = 0; k < sizeof F / sizeof *F; k++) {
    long long v;
    if (!jint(cpu, F[k].key, &v) || (F[k].zero_is_unset && v == 0)) continue;
    cleanup_free char *field = xasprintf("cpu.%s", F[k].key);
    if (!d) return missing(e, field, "cpu");
    if (cg_writef(d, F[k].file, e, "%lld", v) < 0) return ctl_wrap(e, RES "%s", field);
  }
  const char *cs[] = {"cpus", "mems"};
  for (int k = 0; k < 2; k++) {
    const char *s = jstr(cpu, cs[k]);
    if (!s || !*s) continue;
    cleanup_free char *field = xasprintf("cpu.%s", cs[k]), *file = xasprintf("cpuset.%s", cs[k]);
    if (!(d = cg_dir(cg, "cpuset"))) return missing(e, field, "cpuset");
    if (cg_write(d, file, s, e) < 0) return ctl_wrap(e, RES "%s", field);
  }
  return 0;
}

static int blkio_v1(struct cgroup *cg, json_t *bio, struct ctl_err *e) {
  if (!json_object_size(bio)) return 0;
  const char *d = cg_dir(cg, "blkio");
  if (!d) return missing(e, "blockIO", "blkio");
  long long v;
  if (jint(bio, "weight", &v) && v) {
    if (cg_writef(d, "blkio.bfq.weight", e, "%lld", v) < 0 && cg_writef(d, "blkio.weight", e, "%lld", v) < 0)
      return ctl_wrap(e, RES "blockIO.weight (this kernel offers neither blkio.weight nor blkio.bfq.weight)");
  }
  if (jint(bio, "leafWeight", &v) && v && cg_writef(d, "blkio.leaf_weight", e, "%lld", v) < 0) return ctl_wrap(e, RES "blockIO.leafWeight");
  if (weight_devices(d, bio, false, e) < 0) return -1;
  return throttles(d, bio, false, e);
}

static int network_v1(struct cgroup *cg, json_t *net, struct ctl_err *e) {
  long long v;
  const char *d;
  if (jint(net, "classID", &v)) {
    if (!(d = cg_dir(cg, "net_cls"))) return missing(e, "network.classID", "net_cls");
    if (cg_writef(d, "net_cls.classid", e, "%lld", v) < 0) return ctl_wrap(e, RES "network.classID");
  }
  size_t i;
  json_t *p;
  json_array_foreach(json_object_get(net, "priorities"), i, p) {
    long long prio = 0;
    jint(p, "priority", &prio);
    if (!(d = cg_dir(cg, "net_prio"))) return missing(e, "network.priorities", "net_prio");
    if (cg_writef(d, "net_prio.ifpriomap", e, "%s %lld", jstr(p, "name") ?: "", prio) < 0)
      return ctl_wrap(e, RES "network.priorities[%zu]", i);
  }
  return 0;
}

/* hugetlb: a v1 controller, or (hybrid, as here) the v2 hierarchy's */
static int hugetlb_v1(struct cgroup *cg, json_t *hp, struct ctl_err *e) {
  if (!json_array_size(hp)) return 0;
  const char *d = cg_dir(cg, "hugetlb"), *u = cg->mode == CG_HYBRID ? cg_dir(cg, "unified") : NULL;
  bool v2 = false;
  if (!d && u) {
    if (cg_v2_enable(cg, u, "hugetlb", RES "hugepageLimits", e) < 0) return -1;
    d = u;
    v2 = true;
  }
  if (!d) return missing(e, "hugepageLimits", "hugetlb");
  size_t i;
  json_t *h;
  json_array_foreach(hp, i, h) {
    long long limit = 0;
    jint(h, "limit", &limit);
    cleanup_free char *file = xasprintf("hugetlb.%s.%s", jstr(h, "pageSize") ?: "2MB", v2 ? "max" : "limit_in_bytes");
    if (cg_writef(d, file, e, "%lld", limit) < 0) return ctl_wrap(e, RES "hugepageLimits[%zu]", i);
  }
  return 0;
}

static int unified(struct cgroup *cg, const char *d, json_t *u, struct ctl_err *e);

static int apply_v1(struct cgroup *cg, json_t *res, struct ctl_err *e) {
  long long v;
  const char *d;
  if (memory_v1(cg, json_object_get(res, "memory"), e) < 0 || cpu_v1(cg, json_object_get(res, "cpu"), e) < 0) return -1;
  json_t *pids = json_object_get(res, "pids");
  if (jint(pids, "limit", &v)) {
    if (!(d = cg_dir(cg, "pids"))) return missing(e, "pids.limit", "pids");
    if ((v > 0 ? cg_writef(d, "pids.max", e, "%lld", v) : cg_write(d, "pids.max", "max", e)) < 0) return ctl_wrap(e, RES "pids.limit");
  }
  if (blkio_v1(cg, json_object_get(res, "blockIO"), e) < 0) return -1;
  json_t *devs = json_object_get(res, "devices");
  if (json_array_size(devs)) {
    if (!(d = cg_dir(cg, "devices"))) return missing(e, "devices", "devices");
    if (devices_v1(d, devs, e) < 0) return -1;
  }
  if (network_v1(cg, json_object_get(res, "network"), e) < 0 || hugetlb_v1(cg, json_object_get(res, "hugepageLimits"), e) < 0) return -1;
  json_t *rd = json_object_get(res, "rdma");
  if (json_object_size(rd)) {
    if (!(d = cg_dir(cg, "rdma"))) return missing(e, "rdma", "rdma");
    if (rdma(d, rd, e) < 0) return -1;
  }
  json_t *u = json_object_get(res, "unified");
  if (json_object_size(u)) {
    /* hybrid: the v2 hierarchy takes what its files offer; pure v1 has none */
    if (cg->mode != CG_HYBRID) return unsupported(e, "unified", "needs cgroup v2 (this host has only v1 hierarchies)");
    if (unified(cg, cg_dir(cg, "unified"), u, e) < 0) return -1;
  }
  return 0;
}

/* ---- v2 ---- */

static int unified(struct cgroup *cg, const char *d, json_t *u, struct ctl_err *e) {
  (void)cg;
  const char *k;
  json_t *val;
  json_object_foreach(u, k, val) {
    if (!json_is_string(val) || strchr(k, '/')) return ctl_fail(e, 0, RES "unified.%s: invalid", k);
    if (cg_write(d, k, json_string_value(val), e) < 0) return ctl_wrap(e, RES "unified.%s", k);
  }
  return 0;
}

static int memory_v2(struct cgroup *cg, const char *d, json_t *mem, struct ctl_err *e) {
  if (!json_object_size(mem)) return 0;
  static const char *const none[] = {"kernelTCP", "disableOOMKiller", NULL};
  if (refuse_fields(mem, "memory", none, "cgroup v2 has no such setting", e) < 0) return -1;
  long long v, limit = 0, swap = 0;
  int sw = swappiness_valid(mem, &v, e);
  if (sw) return sw < 0 ? -1 : unsupported(e, "memory.swappiness", "cgroup v2 has none");
  if (has(mem, "useHierarchy") && !jbool(mem, "useHierarchy"))
    return unsupported(e, "memory.useHierarchy", "cgroup v2 is always hierarchical");
  if (cg_v2_enable(cg, d, "memory", RES "memory", e) < 0 || check_before_update(mem, d, "memory.current", e) < 0) return -1;
  bool has_limit = jint(mem, "limit", &limit);
  if (has_limit && (limit > 0 ? cg_writef(d, "memory.max", e, "%lld", limit) : cg_write(d, "memory.max", "max", e)) < 0)
    return ctl_wrap(e, RES "memory.limit");
  if (jint(mem, "swap", &swap) && swap != 0) {
    int r = swap < 0 ? cg_write(d, "memory.swap.max", "max", e)
                     : cg_writef(d, "memory.swap.max", e, "%lld", has_limit && swap >= limit ? swap - limit : swap);
    if (r < 0) return ctl_wrap(e, RES "memory.swap");
  }
  if (jint(mem, "reservation", &v) && v > 0 && cg_writef(d, "memory.low", e, "%lld", v) < 0) return ctl_wrap(e, RES "memory.reservation");
  kernel_memory_ignored(mem);
  return 0;
}

static int cpu_v2(struct cgroup *cg, const char *d, json_t *cpu, struct ctl_err *e) {
  static const char *const rt[] = {"realtimePeriod", "realtimeRuntime", NULL};
  if (refuse_fields(cpu, "cpu", rt, "cgroup v2 has no realtime cpu settings", e) < 0) return -1;
  long long v;
  bool weight = jint(cpu, "shares", &v) && v, quota = has(cpu, "quota") || has(cpu, "period");
  if ((weight || quota || has(cpu, "burst") || has(cpu, "idle")) && cg_v2_enable(cg, d, "cpu", RES "cpu", e) < 0) return -1;
  if (weight) {
    long long w = 1 + ((v - 2) * 9999) / 262142;
    if (cg_writef(d, "cpu.weight", e, "%lld", w < 1 ? 1 : w > 10000 ? 10000 : w) < 0) return ctl_wrap(e, RES "cpu.shares");
  }
  if (quota) {
    long long q = 0, period = 100000;
    jint(cpu, "quota", &q);
    jint(cpu, "period", &period);
    if (!period) period = 100000;
    if ((q > 0 ? cg_writef(d, "cpu.max", e, "%lld %lld", q, period) : cg_writef(d, "cpu.max", e, "max %lld", period)) < 0)
      return ctl_wrap(e, RES "cpu.quota");
  }
  if (jint(cpu, "burst", &v) && cg_writef(d, "cpu.max.burst", e, "%lld", v) < 0) return ctl_wrap(e, RES "cpu.burst");
  if (jint(cpu, "idle", &v) && cg_writef(d, "cpu.idle", e, "%lld", v) < 0) return ctl_wrap(e, RES "cpu.idle");
  const char *cs[] = {"cpus", "mems"};
  for (int k = 0; k < 2; k++) {
    const char *s = jstr(cpu, cs[k]);
    if (!s || !*s) continue;
    cleanup_free char *file = xasprintf("cpuset.%s", cs[k]);
    if (cg_v2_enable(cg, d, "cpuset", RES "cpu.cpus", e) < 0) return -1;
    if (cg_write(d, file, s, e) < 0) return ctl_wrap(e, RES "cpu.%s", cs[k]);
  }
  return 0;
}

static int io_v2(struct cgroup *cg, const char *d, json_t *bio, struct ctl_err *e) {
  if (!json_object_size(bio)) return 0;
  static const char *const leaf[] = {"leafWeight", NULL};
  if (refuse_fields(bio, "blockIO", leaf, "cgroup v2 has no leaf weight", e) < 0) return -1;
  if (cg_v2_enable(cg, d, "io", RES "blockIO", e) < 0) return -1;
  long long v;
  if (jint(bio, "weight", &v) && v) {
    if (cg_writef(d, "io.weight", e, "default %lld", io_weight(v)) < 0 && cg_writef(d, "io.bfq.weight", e, "%lld", v) < 0)
      return ctl_wrap(e, RES "blockIO.weight");
  }
  if (weight_devices(d, bio, true, e) < 0) return -1;
  return throttles(d, bio, true, e);
}

static int apply_v2(struct cgroup *cg, const char *d, json_t *res, struct ctl_err *e) {
  long long v;
  if (memory_v2(cg, d, json_object_get(res, "memory"), e) < 0 || cpu_v2(cg, d, json_object_get(res, "cpu"), e) < 0) return -1;
  if (jint(json_object_get(res, "pids"), "limit", &v)) {
    if (cg_v2_enable(cg, d, "pids", RES "pids", e) < 0) return -1;
    if ((v > 0 ? cg_writef(d, "pids.max", e, "%lld", v) : cg_write(d, "pids.max", "max", e)) < 0) return ctl_wrap(e, RES "pids.limit");
  }
  if (io_v2(cg, d, json_object_get(res, "blockIO"), e) < 0) return -1;
  size_t i;
  json_t *h;
  json_array_foreach(json_object_get(res, "hugepageLimits"), i, h) {
    long long limit = 0;
    jint(h, "limit", &limit);
    if (i == 0 && cg_v2_enable(cg, d, "hugetlb", RES "hugepageLimits", e) < 0) return -1;
    cleanup_free char *file = xasprintf("hugetlb.%s.max", jstr(h, "pageSize") ?: "2MB");
    if (cg_writef(d, file, e, "%lld", limit) < 0) return ctl_wrap(e, RES "hugepageLimits[%zu]", i);
  }
  json_t *net = json_object_get(res, "network");
  if (has(net, "classID") || json_array_size(json_object_get(net, "priorities")))
    return unsupported(e, "network", "cgroup v2 has no net_cls or net_prio controller");
  json_t *rd = json_object_get(res, "rdma");
  if (json_object_size(rd) && (cg_v2_enable(cg, d, "rdma", RES "rdma", e) < 0 || rdma(d, rd, e) < 0)) return -1;
  if (json_array_size(json_object_get(res, "devices")))
    ctl_log("warning", RES "devices not enforced: cgroup v2 device control needs a BPF program (not done)");
  return unified(cg, d, json_object_get(res, "unified"), e);
}

int cg_apply(struct cgroup *cg, json_t *res, struct ctl_err *e) {
  if (!res) return 0;
  int r = cg->mode == CG_V2 ? apply_v2(cg, cg->dir[0], res, e) : apply_v1(cg, res, e);
  /* the cgroup was just made (or checked by update): a missing file is one this kernel lacks */
  if (r < 0 && e->errnum == ENOENT) e->kind = CTL_KIND_FAILED_PRECONDITION;
  return r;
}
