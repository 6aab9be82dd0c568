/* A container's cgroup figures in runc's `events --stats` shape (v1 and v2 files). */
#include "cgroups.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "util.h"

static unsigned long long read_ull(const char *dir, const char *file) {
  cleanup_free char *s = dir ? cg_read(dir, file) : NULL;
  return s ? strtoull(s, NULL, 10) : 0;
}

static json_t *kv_file(const char *dir, const char *file) {
  json_t *o = json_object();
  cleanup_free char *s = dir ? cg_read(dir, file) : NULL;
  if (!s) return o;
  for (char *sv = NULL, *line = strtok_r(s, "\n", &sv); line; line = strtok_r(NULL, "\n", &sv)) {
    char k[128];
    unsigned long long v;
    if (sscanf(line, "%127s %llu", k, &v) == 2) json_object_set_new(o, k, json_integer(v));
  }
  return o;
}

static json_t *blkio_entries(const char *dir, const char *file) {
  json_t *a = json_array();
  cleanup_free char *s = dir ? cg_read(dir, file) : NULL;
  if (!s) return a;
  for (char *sv = NULL, *line = strtok_r(s, "\n", &sv); line; line = strtok_r(NULL, "\n", &sv)) {
    unsigned maj, min;
    char op[32];
    unsigned long long v;
    if (sscanf(line, "%u:%u %31s %llu", &maj, &min, op, &v) == 4)
      json_array_append_new(a, json_pack("{s:i,s:i,s:s,s:I}", "major", maj, "minor", min, "op", op, "value", (json_int_t)v));
  }
  return a;
}

json_t *cg_stats(struct cgroup *cg) {
  json_t *data = json_object();
  if (cg->mode == CG_V2) {
    const char *d = cg->dir[0];
    json_t *cs = kv_file(d, "cpu.stat");
    json_t *ms = kv_file(d, "memory.stat");
    json_object_set_new(data, "cpu",
                        json_pack("{s:{s:I,s:I,s:I}}", "usage", "total",
                                  (json_int_t)(json_integer_value(json_object_get(cs, "usage_usec")) * 1000), "user",
                                  (json_int_t)(json_integer_value(json_object_get(cs, "user_usec")) * 1000), "kernel",
                                  (json_int_t)(json_integer_value(json_object_get(cs, "system_usec")) * 1000)));
    json_decref(cs);
    json_object_set_new(data, "memory",
                        json_pack("{s:{s:I,s:I},s:o}", "usage", "usage", (json_int_t)read_ull(d, "memory.current"), "limit",
                                  (json_int_t)read_ull(d, "memory.max"), "raw", ms));
    json_object_set_new(
        data, "pids",
        json_pack("{s:I,s:I}", "current", (json_int_t)read_ull(d, "pids.current"), "limit", (json_int_t)read_ull(d, "pids.max")));
    return data;
  }
  const char *cpuacct = cg_dir(cg, "cpuacct"), *mem = cg_dir(cg, "memory"), *pids = cg_dir(cg, "pids"), *blk = cg_dir(cg, "blkio");
  json_t *percpu = json_array();
  cleanup_free char *pc = cpuacct ? cg_read(cpuacct, "cpuacct.usage_percpu") : NULL;
  if (pc)
    for (char *sv = NULL, *t = strtok_r(pc, " \n", &sv); t; t = strtok_r(NULL, " \n", &sv))
      json_array_append_new(percpu, json_integer(strtoll(t, NULL, 10)));
  json_t *ca = kv_file(cpuacct, "cpuacct.stat");
  long hz = sysconf(_SC_CLK_TCK);
  json_t *thr = kv_file(cg_dir(cg, "cpu"), "cpu.stat");
  json_object_set_new(data, "cpu",
                      json_pack("{s:{s:I,s:o,s:I,s:I},s:{s:I,s:I,s:I}}", "usage", "total", (json_int_t)read_ull(cpuacct, "cpuacct.usage"),
                                "percpu", percpu, "kernel",
                                (json_int_t)(json_integer_value(json_object_get(ca, "system")) * (1000000000LL / hz)), "user",
                                (json_int_t)(json_integer_value(json_object_get(ca, "user")) * (1000000000LL / hz)), "throttling",
                                "periods", (json_int_t)json_integer_value(json_object_get(thr, "nr_periods")), "throttledPeriods",
                                (json_int_t)json_integer_value(json_object_get(thr, "nr_throttled")), "throttledTime",
                                (json_int_t)json_integer_value(json_object_get(thr, "throttled_time"))));
  json_decref(ca);
  json_decref(thr);
  json_object_set_new(data, "memory",
                      json_pack("{s:I,s:{s:I,s:I,s:I,s:I},s:{s:I,s:I,s:I,s:I},s:o}", "cache", (json_int_t)0, "usage", "usage",
                                (json_int_t)read_ull(mem, "memory.usage_in_bytes"), "max",
                                (json_int_t)read_ull(mem, "memory.max_usage_in_bytes"), "limit",
                                (json_int_t)read_ull(mem, "memory.limit_in_bytes"), "failcnt", (json_int_t)read_ull(mem, "memory.failcnt"),
                                "swap", "usage", (json_int_t)read_ull(mem, "memory.memsw.usage_in_bytes"), "max",
                                (json_int_t)read_ull(mem, "memory.memsw.max_usage_in_bytes"), "limit",
                                (json_int_t)read_ull(mem, "memory.memsw.limit_in_bytes"), "failcnt",
                                (json_int_t)read_ull(mem, "memory.memsw.failcnt"), "raw", kv_file(mem, "memory.stat")));
  json_t *m = json_object_get(data, "memory");
  json_object_set(m, "cache", json_object_get(json_object_get(m, "raw"), "cache") ?: json_integer(0));
  cleanup_free char *pmax = pids ? cg_read(pids, "pids.max") : NULL;
  json_object_set_new(data, "pids",
                      json_pack("{s:I,s:I}", "current", (json_int_t)read_ull(pids, "pids.current"), "limit",
                                (json_int_t)(pmax && strncmp(pmax, "max", 3) ? strtoll(pmax, NULL, 10) : 0)));
  json_object_set_new(data, "blkio",
                      json_pack("{s:o,s:o}", "ioServiceBytesRecursive", blkio_entries(blk, "blkio.throttle.io_service_bytes_recursive"),
                                "ioServicedRecursive", blkio_entries(blk, "blkio.throttle.io_serviced_recursive")));
  return data;
}
