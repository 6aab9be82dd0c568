/* Capabilities: the bounding set is dropped first, then (after the uid switch) effective,
 * permitted and inheritable are set with capset and the ambient set is raised. */
#include "caps.h"
#include "util.h"
#include "error.h"
#include <jansson.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

static const char *CAPS[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};
#define NCAPS ((int)(sizeof CAPS / sizeof *CAPS))

int cap_from_name(const char *name) {
  for (int i = 0; i < NCAPS; i++)
    if (!strcasecmp(name, CAPS[i]) || (strncasecmp(name, "CAP_", 4) && !strcasecmp(name, CAPS[i] + 4))) return i;
  return -1;
}

static int last_cap(void) {
  static int last = -1;
  if (last >= 0) return last;
  cleanup_free char *s = NULL;
  struct ctl_err e;
  last = read_file("/proc/sys/kernel/cap_last_cap", &s, &e) > 0 ? atoi(s) : NCAPS - 1;
  return last;
}

/* order of out[]: bounding, effective, inheritable, permitted, ambient */
int caps_parse(json_t *caps, unsigned long long out[5], struct ctl_err *e) {
  static const char *sets[] = {"bounding", "effective", "inheritable", "permitted", "ambient"};
  for (int s = 0; s < 5; s++) {
    out[s] = 0;
    json_t *arr = json_object_get(caps, sets[s]);
    if (arr && !json_is_array(arr)) return ctl_fail(e, 0, "%s: must be an array", sets[s]);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
      const char *n = json_string_value(v);
      int c = n ? cap_from_name(n) : -1;
      if (c < 0) return ctl_fail(e, 0, "%s[%zu]: unknown capability \"%s\"", sets[s], i, n ? n : "");
      if (c <= last_cap()) out[s] |= 1ULL << c;
    }
  }
  return 0;
}

int caps_drop_bounding(unsigned long long bounding, struct ctl_err *e) {
  for (int c = 0; c <= last_cap(); c++) {
    if (bounding & (1ULL << c)) continue;
    if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
      return ctl_fail(e, errno, "prctl PR_CAPBSET_DROP %s", c < NCAPS ? CAPS[c] : "?");
  }
  return 0;
}

int caps_apply(unsigned long long s[5], struct ctl_err *e) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  for (int i = 0; i < 2; i++) {
    data[i].effective = (uint32_t)(s[1] >> (32 * i));
    data[i].inheritable = (uint32_t)(s[2] >> (32 * i));
    data[i].permitted = (uint32_t)(s[3] >> (32 * i));
  }
  if (syscall(SYS_capset, &hdr, data) < 0) {
    int err = errno;
    struct __user_cap_data_struct cur[2];
    unsigned long long have = 0, want = s[1] | s[2] | s[3];
    if (syscall(SYS_capget, &hdr, cur) == 0) have = cur[0].permitted | ((unsigned long long)cur[1].permitted << 32);
    for (int c = 0; c < NCAPS; c++)
      if ((want & (1ULL << c)) && !(have & (1ULL << c)))
        return ctl_fail(e, err, "capset: process.capabilities asks for %s, which the runtime itself does not hold", CAPS[c]);
    return ctl_fail(e, err, "capset (process.capabilities)");
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    return ctl_fail(e, errno, "prctl PR_CAP_AMBIENT_CLEAR_ALL");
  for (int c = 0; c <= last_cap(); c++) /* as runc: a cap that is not also permitted and inheritable cannot be ambient; not fatal */
    if ((s[4] & (1ULL << c)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
      ctl_debug("prctl PR_CAP_AMBIENT_RAISE %s (process.capabilities.ambient): %s", CAPS[c], strerror(errno));
  return 0;
}
