/* config.json: load, and validate everything that can be checked before anything is made, so a
 * bad bundle fails with a message naming the field or path and leaves nothing behind. */
#include "spec.h"
#include "util.h"
#include "error.h"
#include "json.h"
#include "namespaces.h"
#include "mounts.h"
#include "caps.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>

static int expect(json_t *v, int type, const char *field, bool required, struct ctl_err *e) {
  static const char *names[] = {"object", "array", "string", "integer", "real", "boolean", "boolean", "null"};
  if (!v) return required ? ctl_fail(e, 0, "config.json: %s: required field is missing", field) : 0;
  int t = json_typeof(v);
  if (type == JSON_TRUE && (t == JSON_TRUE || t == JSON_FALSE)) return 0;
  if (type == JSON_INTEGER && t == JSON_INTEGER) return 0;
  if (t != type) return ctl_fail(e, 0, "config.json: %s: must be %s %s", field, strchr("aeiou", names[type][0]) ? "an" : "a", names[type]);
  return 0;
}

static int validate_string_array(json_t *a, const char *field, bool required, struct ctl_err *e) {
  if (expect(a, JSON_ARRAY, field, required, e) < 0) return -1;
  size_t i;
  json_t *v;
  json_array_foreach(a, i, v) if (!json_is_string(v)) return ctl_fail(e, 0, "config.json: %s[%zu]: must be a string", field, i);
  return 0;
}

static const char *rlimit_names[] = {"RLIMIT_CPU",      "RLIMIT_FSIZE", "RLIMIT_DATA",   "RLIMIT_STACK",
                                     "RLIMIT_CORE",     "RLIMIT_RSS",   "RLIMIT_NPROC",  "RLIMIT_NOFILE",
                                     "RLIMIT_MEMLOCK",  "RLIMIT_AS",    "RLIMIT_LOCKS",  "RLIMIT_SIGPENDING",
                                     "RLIMIT_MSGQUEUE", "RLIMIT_NICE",  "RLIMIT_RTPRIO", "RLIMIT_RTTIME"};

int rlimit_from_name(const char *n) {
  for (size_t i = 0; i < sizeof rlimit_names / sizeof *rlimit_names; i++)
    if (!strcmp(n, rlimit_names[i])) return (int)i;
  return -1;
}

int spec_validate_process(json_t *p, const char *where, struct ctl_err *e) {
  char f[128];
  if (expect(p, JSON_OBJECT, where, true, e) < 0) return -1;
  snprintf(f, sizeof f, "%s.args", where);
  if (validate_string_array(json_object_get(p, "args"), f, true, e) < 0) return -1;
  if (json_array_size(json_object_get(p, "args")) == 0) return ctl_fail(e, 0, "config.json: %s: must not be empty", f);
  snprintf(f, sizeof f, "%s.env", where);
  if (validate_string_array(json_object_get(p, "env"), f, false, e) < 0) return -1;
  snprintf(f, sizeof f, "%s.cwd", where);
  json_t *cwd = json_object_get(p, "cwd");
  if (expect(cwd, JSON_STRING, f, true, e) < 0) return -1;
  if (json_string_value(cwd)[0] != '/')
    return ctl_fail(e, 0, "config.json: %s: must be an absolute path, got \"%s\"", f, json_string_value(cwd));
  json_t *user = json_object_get(p, "user");
  snprintf(f, sizeof f, "%s.user", where);
  if (expect(user, JSON_OBJECT, f, false, e) < 0) return -1;
  if (user) {
    const char *keys[] = {"uid", "gid", "umask"};
    for (int i = 0; i < 3; i++) {
      json_t *v = json_object_get(user, keys[i]);
      snprintf(f, sizeof f, "%s.user.%s", where, keys[i]);
      if (expect(v, JSON_INTEGER, f, false, e) < 0) return -1;
      if (v && (json_integer_value(v) < 0 || json_integer_value(v) > UINT_MAX)) return ctl_fail(e, 0, "config.json: %s: out of range", f);
    }
    json_t *ag = json_object_get(user, "additionalGids");
    snprintf(f, sizeof f, "%s.user.additionalGids", where);
    if (expect(ag, JSON_ARRAY, f, false, e) < 0) return -1;
    size_t i;
    json_t *v;
    json_array_foreach(ag, i, v) if (!json_is_integer(v) || json_integer_value(v) < 0) return ctl_fail(
        e, 0, "config.json: %s[%zu]: must be a non-negative integer", f, i);
  }
  json_t *rl = json_object_get(p, "rlimits");
  snprintf(f, sizeof f, "%s.rlimits", where);
  if (expect(rl, JSON_ARRAY, f, false, e) < 0) return -1;
  size_t i;
  json_t *r;
  json_array_foreach(rl, i, r) {
    const char *t = jstr(r, "type");
    long long soft, hard;
    if (!t || rlimit_from_name(t) < 0) return ctl_fail(e, 0, "config.json: %s[%zu].type: unknown rlimit \"%s\"", f, i, t ? t : "");
    if (!jint(r, "soft", &soft) || !jint(r, "hard", &hard))
      return ctl_fail(e, 0, "config.json: %s[%zu]: soft and hard must be integers", f, i);
    if ((unsigned long long)soft > (unsigned long long)hard)
      return ctl_fail(e, 0, "config.json: %s[%zu] (%s): soft limit %lld is above hard limit %lld", f, i, t, soft, hard);
  }
  json_t *caps = json_object_get(p, "capabilities");
  snprintf(f, sizeof f, "%s.capabilities", where);
  if (expect(caps, JSON_OBJECT, f, false, e) < 0) return -1;
  unsigned long long sets[5];
  if (caps && caps_parse(caps, sets, e) < 0) return ctl_wrap(e, "config.json: %s", f);
  return 0;
}

static int validate_id_maps(json_t *maps, const char *field, struct ctl_err *e) {
  if (expect(maps, JSON_ARRAY, field, false, e) < 0) return -1;
  size_t i;
  json_t *m;
  json_array_foreach(maps, i, m) {
    long long c, h, s;
    if (!json_is_object(m) || !jint(m, "containerID", &c) || !jint(m, "hostID", &h) || !jint(m, "size", &s))
      return ctl_fail(e, 0, "config.json: %s[%zu]: needs integer containerID, hostID and size", field, i);
    if (c < 0 || h < 0 || s <= 0 || c > UINT32_MAX || h > UINT32_MAX || s > UINT32_MAX || c + s > (1LL << 32) || h + s > (1LL << 32))
      return ctl_fail(e, 0, "config.json: %s[%zu]: invalid mapping containerID=%lld hostID=%lld size=%lld", field, i, c, h, s);
  }
  return 0;
}

static int validate_linux(json_t *spec, const char *bundle, struct ctl_err *e) {
  json_t *linux_ = json_object_get(spec, "linux");
  if (expect(linux_, JSON_OBJECT, "linux", false, e) < 0) return -1;
  json_t *nss = json_object_get(linux_, "namespaces");
  if (expect(nss, JSON_ARRAY, "linux.namespaces", false, e) < 0) return -1;
  bool seen[NS_COUNT] = {0};
  size_t i;
  json_t *ns;
  json_array_foreach(nss, i, ns) {
    const char *t = jstr(ns, "type");
    if (!t) return ctl_fail(e, 0, "config.json: linux.namespaces[%zu].type: required string is missing", i);
    int type = ns_type_from_name(t);
    if (type < 0) return ctl_fail(e, 0, "config.json: linux.namespaces[%zu].type: unknown namespace type \"%s\"", i, t);
    if (seen[type]) return ctl_fail(e, 0, "config.json: linux.namespaces[%zu].type: namespace \"%s\" listed twice", i, t);
    seen[type] = true;
    json_t *p = json_object_get(ns, "path");
    if (p && !json_is_string(p)) return ctl_fail(e, 0, "config.json: linux.namespaces[%zu].path: must be a string", i);
    if (p && *json_string_value(p)) {
      struct stat st;
      if (stat(json_string_value(p), &st) < 0)
        return ctl_fail(e, errno, "config.json: linux.namespaces[%zu].path: %s namespace %s", i, t, json_string_value(p));
    }
  }
  json_t *um = json_object_get(linux_, "uidMappings"), *gm = json_object_get(linux_, "gidMappings");
  if (validate_id_maps(um, "linux.uidMappings", e) < 0 || validate_id_maps(gm, "linux.gidMappings", e) < 0) return -1;
  bool userns_new = false;
  json_array_foreach(nss, i, ns) if (!strcmp(jstr(ns, "type"), "user") && !(jstr(ns, "path") && *jstr(ns, "path"))) userns_new = true;
  if ((json_array_size(um) || json_array_size(gm)) && !seen[NS_USER])
    return ctl_fail(e, 0, "config.json: linux.uidMappings: mappings need a user namespace in linux.namespaces");
  if (userns_new && (!json_array_size(um) || !json_array_size(gm)))
    return ctl_fail(e, 0, "config.json: linux.uidMappings: a new user namespace needs uidMappings and gidMappings");
  if (jstr(spec, "hostname") && *jstr(spec, "hostname") && !seen[NS_UTS])
    return ctl_fail(e, 0, "config.json: hostname: setting the hostname needs a uts namespace");
  if (jstr(spec, "domainname") && *jstr(spec, "domainname") && !seen[NS_UTS])
    return ctl_fail(e, 0, "config.json: domainname: setting the domain name needs a uts namespace");
  json_t *sysctl = json_object_get(linux_, "sysctl");
  if (expect(sysctl, JSON_OBJECT, "linux.sysctl", false, e) < 0) return -1;
  const char *k;
  json_t *v;
  json_object_foreach(sysctl, k, v) {
    if (!json_is_string(v)) return ctl_fail(e, 0, "config.json: linux.sysctl.%s: must be a string", k);
    if (strstr(k, "..") || strchr(k, '/') == k) return ctl_fail(e, 0, "config.json: linux.sysctl: invalid key \"%s\"", k);
  }
  json_t *devs = json_object_get(linux_, "devices");
  if (expect(devs, JSON_ARRAY, "linux.devices", false, e) < 0) return -1;
  json_t *d;
  json_array_foreach(devs, i, d) {
    const char *path = jstr(d, "path"), *type = jstr(d, "type");
    if (!path || path[0] != '/') return ctl_fail(e, 0, "config.json: linux.devices[%zu].path: must be an absolute path", i);
    if (!type || !strchr("cbup", type[0]) || type[1])
      return ctl_fail(e, 0, "config.json: linux.devices[%zu].type: must be one of c, b, u, p", i);
  }
  json_t *cgp = json_object_get(linux_, "cgroupsPath");
  if (expect(cgp, JSON_STRING, "linux.cgroupsPath", false, e) < 0) return -1;
  if (cgp && strstr(json_string_value(cgp), "..")) return ctl_fail(e, 0, "config.json: linux.cgroupsPath: must not contain \"..\"");
  json_t *mp = json_object_get(linux_, "maskedPaths"), *rp = json_object_get(linux_, "readonlyPaths");
  if (validate_string_array(mp, "linux.maskedPaths", false, e) < 0 || validate_string_array(rp, "linux.readonlyPaths", false, e) < 0)
    return -1;
  (void)bundle;
  return 0;
}

static int validate_mounts(json_t *spec, const char *bundle, struct ctl_err *e) {
  json_t *mounts = json_object_get(spec, "mounts");
  if (expect(mounts, JSON_ARRAY, "mounts", false, e) < 0) return -1;
  size_t i;
  json_t *m;
  json_array_foreach(mounts, i, m) {
    char f[64];
    snprintf(f, sizeof f, "mounts[%zu]", i);
    if (expect(m, JSON_OBJECT, f, true, e) < 0) return -1;
    const char *dest = jstr(m, "destination");
    if (!dest || dest[0] != '/') return ctl_fail(e, 0, "config.json: mounts[%zu].destination: must be an absolute path", i);
    snprintf(f, sizeof f, "mounts[%zu].options", i);
    if (validate_string_array(json_object_get(m, "options"), f, false, e) < 0) return -1;
    char *data = NULL;
    unsigned long prop = 0;
    bool bind = false, rec = false;
    mount_parse_options(json_object_get(m, "options"), &data, &prop, &bind, &rec);
    free(data);
    const char *type = jstr(m, "type"), *src = jstr(m, "source");
    if (type && !strcmp(type, "bind")) bind = true;
    if (bind) {
      if (!src || !*src) return ctl_fail(e, 0, "config.json: mounts[%zu].source: a bind mount of %s needs a source", i, dest);
      cleanup_free char *abs = src[0] == '/' ? strdup(src) : xasprintf("%s/%s", bundle, src);
      struct stat st;
      if (stat(abs, &st) < 0) return ctl_fail(e, errno, "config.json: mounts[%zu].source: bind source %s for %s", i, abs, dest);
    } else if (!type || !*type) {
      return ctl_fail(e, 0, "config.json: mounts[%zu].type: required for non-bind mount of %s", i, dest);
    }
  }
  return 0;
}

json_t *spec_load(const char *bundle, struct ctl_err *e) {
  cleanup_free char *path = xasprintf("%s/config.json", bundle);
  json_error_t jerr;
  struct stat st;
  if (stat(bundle, &st) < 0) {
    ctl_fail(e, errno, "bundle %s", bundle);
    return NULL;
  }
  json_t *spec = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
  if (!spec) {
    if (access(path, R_OK) < 0)
      ctl_fail(e, errno, "open %s", path);
    else
      ctl_fail(e, 0, "%s: malformed JSON at line %d column %d: %s", path, jerr.line, jerr.column, jerr.text);
    return NULL;
  }
  if (!json_is_object(spec)) {
    ctl_fail(e, 0, "%s: the top level must be an object", path);
    goto fail;
  }
  const char *ver = jstr(spec, "ociVersion");
  if (!ver) {
    ctl_fail(e, 0, "config.json: ociVersion: required string is missing");
    goto fail;
  }
  if (strncmp(ver, "1.", 2) != 0) {
    ctl_fail(e, 0, "config.json: ociVersion: unsupported version \"%s\" (want 1.x)", ver);
    goto fail;
  }
  json_t *root = json_object_get(spec, "root");
  if (expect(root, JSON_OBJECT, "root", true, e) < 0) goto fail;
  const char *rp = jstr(root, "path");
  if (!rp || !*rp) {
    ctl_fail(e, 0, "config.json: root.path: required string is missing");
    goto fail;
  }
  cleanup_free char *rootfs = rp[0] == '/' ? strdup(rp) : xasprintf("%s/%s", bundle, rp);
  if (stat(rootfs, &st) < 0) {
    ctl_fail(e, errno, "config.json: root.path: rootfs %s", rootfs);
    goto fail;
  }
  if (!S_ISDIR(st.st_mode)) {
    ctl_fail(e, ENOTDIR, "config.json: root.path: rootfs %s", rootfs);
    goto fail;
  }
  if (spec_validate_process(json_object_get(spec, "process"), "process", e) < 0) goto fail;
  if (validate_linux(spec, bundle, e) < 0 || validate_mounts(spec, bundle, e) < 0) goto fail;
  json_t *ann = json_object_get(spec, "annotations");
  if (expect(ann, JSON_OBJECT, "annotations", false, e) < 0) goto fail;
  return spec;
fail:
  /* a path the config names but the host lacks (rootfs, bind source, namespace) is a refused
   * config too, whatever errno said */
  e->kind = CTL_KIND_INVALID_ARGUMENT;
  json_decref(spec);
  return NULL;
}

json_t *spec_load_unchecked(const char *bundle) {
  cleanup_free char *path = xasprintf("%s/config.json", bundle);
  return json_load_file(path, 0, NULL);
}
