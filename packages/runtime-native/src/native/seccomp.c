/* Seccomp: linux.seccomp of the spec compiled by libseccomp and loaded into the process. */
#include "seccomp.h"
#include "util.h"
#include "error.h"
#include "json.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>

static int parse_action(const char *name, long long errno_ret, uint32_t *out) {
  if (!strcmp(name, "SCMP_ACT_KILL") || !strcmp(name, "SCMP_ACT_KILL_THREAD"))
    *out = SCMP_ACT_KILL_THREAD;
  else if (!strcmp(name, "SCMP_ACT_KILL_PROCESS"))
    *out = SCMP_ACT_KILL_PROCESS;
  else if (!strcmp(name, "SCMP_ACT_TRAP"))
    *out = SCMP_ACT_TRAP;
  else if (!strcmp(name, "SCMP_ACT_ERRNO"))
    *out = SCMP_ACT_ERRNO((uint16_t)errno_ret);
  else if (!strcmp(name, "SCMP_ACT_TRACE"))
    *out = SCMP_ACT_TRACE((uint16_t)errno_ret);
  else if (!strcmp(name, "SCMP_ACT_ALLOW"))
    *out = SCMP_ACT_ALLOW;
  else if (!strcmp(name, "SCMP_ACT_LOG"))
    *out = SCMP_ACT_LOG;
  else
    return -1;
  return 0;
}

static int parse_op(const char *name, enum scmp_compare *op) {
  static const struct {
    const char *n;
    enum scmp_compare op;
  } OPS[] = {{"SCMP_CMP_NE", SCMP_CMP_NE},
             {"SCMP_CMP_LT", SCMP_CMP_LT},
             {"SCMP_CMP_LE", SCMP_CMP_LE},
             {"SCMP_CMP_EQ", SCMP_CMP_EQ},
             {"SCMP_CMP_GE", SCMP_CMP_GE},
             {"SCMP_CMP_GT", SCMP_CMP_GT},
             {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ}};
  for (size_t i = 0; i < sizeof OPS / sizeof *OPS; i++)
    if (!strcmp(name, OPS[i].n)) return *op = OPS[i].op, 0;
  return -1;
}

static uint32_t parse_arch(const char *name) {
  static const struct {
    const char *n;
    uint32_t a;
  } ARCH[] = {
      {"SCMP_ARCH_X86", SCMP_ARCH_X86},           {"SCMP_ARCH_X86_64", SCMP_ARCH_X86_64},           {"SCMP_ARCH_X32", SCMP_ARCH_X32},
      {"SCMP_ARCH_ARM", SCMP_ARCH_ARM},           {"SCMP_ARCH_AARCH64", SCMP_ARCH_AARCH64},         {"SCMP_ARCH_MIPS", SCMP_ARCH_MIPS},
      {"SCMP_ARCH_MIPS64", SCMP_ARCH_MIPS64},     {"SCMP_ARCH_MIPS64N32", SCMP_ARCH_MIPS64N32},     {"SCMP_ARCH_MIPSEL", SCMP_ARCH_MIPSEL},
      {"SCMP_ARCH_MIPSEL64", SCMP_ARCH_MIPSEL64}, {"SCMP_ARCH_MIPSEL64N32", SCMP_ARCH_MIPSEL64N32}, {"SCMP_ARCH_PPC", SCMP_ARCH_PPC},
      {"SCMP_ARCH_PPC64", SCMP_ARCH_PPC64},       {"SCMP_ARCH_PPC64LE", SCMP_ARCH_PPC64LE},         {"SCMP_ARCH_S390", SCMP_ARCH_S390},
      {"SCMP_ARCH_S390X", SCMP_ARCH_S390X},       {"SCMP_ARCH_RISCV64", SCMP_ARCH_RISCV64}};
  for (size_t i = 0; i < sizeof ARCH / sizeof *ARCH; i++)
    if (!strcmp(name, ARCH[i].n)) return ARCH[i].a;
  return 0;
}

/* libseccomp's filter for linux.seccomp, not loaded yet; NULL (and e) on failure. */
static scmp_filter_ctx build_filter(json_t *sc, struct ctl_err *e) {
  uint32_t defact;
  long long def_errno = EPERM;
  jint(sc, "defaultErrnoRet", &def_errno);
  const char *da = jstr(sc, "defaultAction");
  if (!da || parse_action(da, def_errno, &defact) < 0) {
    ctl_fail(e, 0, "linux.seccomp.defaultAction: unknown action \"%s\"", da ? da : "");
    return NULL;
  }
  scmp_filter_ctx ctx = seccomp_init(defact);
  if (!ctx) {
    ctl_fail(e, ENOMEM, "seccomp_init");
    return NULL;
  }
  int r;
  size_t i, j;
  json_t *a, *rule;
  json_array_foreach(json_object_get(sc, "architectures"), i, a) {
    uint32_t arch = parse_arch(json_string_value(a) ?: "");
    if (!arch) {
      ctl_fail(e, 0, "linux.seccomp.architectures[%zu]: unknown architecture", i);
      goto fail;
    }
    r = seccomp_arch_add(ctx, arch);
    if (r < 0 && r != -EEXIST) {
      ctl_fail(e, -r, "seccomp_arch_add %s", json_string_value(a));
      goto fail;
    }
  }
  json_array_foreach(json_object_get(sc, "syscalls"), i, rule) {
    long long eret = EPERM;
    jint(rule, "errnoRet", &eret);
    uint32_t act;
    const char *an = jstr(rule, "action");
    if (!an || parse_action(an, eret, &act) < 0) {
      ctl_fail(e, 0, "linux.seccomp.syscalls[%zu].action: unknown action \"%s\"", i, an ? an : "");
      goto fail;
    }
    if (act == defact) continue;
    struct scmp_arg_cmp cmps[6];
    unsigned ncmp = 0;
    json_t *arg;
    json_array_foreach(json_object_get(rule, "args"), j, arg) {
      long long idx = 0, val = 0, val2 = 0;
      enum scmp_compare op;
      jint(arg, "index", &idx);
      jint(arg, "value", &val);
      jint(arg, "valueTwo", &val2);
      if (ncmp >= 6 || idx < 0 || idx > 5 || parse_op(jstr(arg, "op") ?: "", &op) < 0) {
        ctl_fail(e, 0, "linux.seccomp.syscalls[%zu].args[%zu]: invalid argument filter", i, j);
        goto fail;
      }
      cmps[ncmp++] = (struct scmp_arg_cmp){(unsigned)idx, op, (scmp_datum_t)val, (scmp_datum_t)val2};
    }
    json_t *n;
    json_array_foreach(json_object_get(rule, "names"), j, n) {
      const char *name = json_string_value(n);
      int nr = name ? seccomp_syscall_resolve_name(name) : __NR_SCMP_ERROR;
      if (nr == __NR_SCMP_ERROR) continue; /* not a syscall on this architecture */
      /* several conditions on the same argument index need one rule each (libseccomp ANDs them) */
      r = seccomp_rule_add_array(ctx, act, nr, ncmp, ncmp ? cmps : NULL);
      if (r == -EINVAL && ncmp > 1) {
        for (unsigned k = 0; k < ncmp && r != 0; k++) r = seccomp_rule_add_array(ctx, act, nr, 1, &cmps[k]);
        r = 0;
      }
      if (r < 0 && r != -EEXIST) {
        ctl_fail(e, -r, "linux.seccomp.syscalls[%zu]: seccomp_rule_add %s", i, name);
        goto fail;
      }
    }
  }
  json_t *flags = json_object_get(sc, "flags");
  json_array_foreach(flags, i, a) {
    const char *f = json_string_value(a) ?: "";
    if (!strcmp(f, "SECCOMP_FILTER_FLAG_LOG"))
      seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1);
    else if (!strcmp(f, "SECCOMP_FILTER_FLAG_SPEC_ALLOW"))
      seccomp_attr_set(ctx, SCMP_FLTATR_CTL_SSB, 1);
  }
  /* no_new_privs is the spec's business (process.noNewPrivileges), not libseccomp's */
  seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
  return ctx;
fail:
  seccomp_release(ctx);
  return NULL;
}

/*
 * Compiling the profile is most of a container's start-up cost in the runtime (libseccomp builds
 * the BPF from ~300 rules: ~13 ms per `ctl run`). So the parent compiles it once per profile
 * before it forks, the program is kept in <root>/seccomp-<hash>.bpf next to the containers'
 * state (keyed by the canonical JSON of linux.seccomp, which the file repeats and is compared
 * on load, so a hash collision cannot load the wrong filter), and the child only hands the
 * ready program to the kernel, as seccomp_load() would.
 */
static struct {
  json_t *sc; /* the linux.seccomp object the program was made for */
  struct sock_fprog prog;
  unsigned flags; /* SECCOMP_FILTER_FLAG_* */
} prepared;

static const char CACHE_MAGIC[8] = "CTLBPF1\n";

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static unsigned filter_flags(json_t *sc) {
  unsigned flags = 0;
  size_t i;
  json_t *a;
  json_array_foreach(json_object_get(sc, "flags"), i, a) {
    const char *f = json_string_value(a) ?: "";
    if (!strcmp(f, "SECCOMP_FILTER_FLAG_LOG"))
      flags |= SECCOMP_FILTER_FLAG_LOG;
    else if (!strcmp(f, "SECCOMP_FILTER_FLAG_SPEC_ALLOW"))
      flags |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
  }
  return flags;
}

/* The cached program for canon, or false. */
static bool cache_load(const char *path, const char *canon) {
  FILE *f = fopen(path, "re");
  if (!f) return false;
  char magic[8];
  uint32_t clen = 0, n = 0;
  bool ok = fread(magic, 1, 8, f) == 8 && !memcmp(magic, CACHE_MAGIC, 8) && fread(&clen, 4, 1, f) == 1 && clen == strlen(canon);
  char *stored = ok ? malloc(clen + 1) : NULL;
  ok = ok && stored && fread(stored, 1, clen, f) == clen && !memcmp(stored, canon, clen) && fread(&n, 4, 1, f) == 1 && n > 0 &&
       n <= BPF_MAXINSNS;
  free(stored);
  struct sock_filter *insns = ok ? calloc(n, sizeof *insns) : NULL;
  ok = ok && insns && fread(insns, sizeof *insns, n, f) == n && fgetc(f) == EOF;
  fclose(f);
  if (!ok) {
    free(insns);
    return false;
  }
  prepared.prog = (struct sock_fprog){.len = (unsigned short)n, .filter = insns};
  return true;
}

/* Best effort: a cache that cannot be written only costs the next container the compile. */
static void cache_store(const char *path, const char *canon) {
  char tmp[PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, getpid());
  FILE *f = fopen(tmp, "wxe");
  if (!f) return;
  uint32_t clen = (uint32_t)strlen(canon), n = prepared.prog.len;
  bool ok = fwrite(CACHE_MAGIC, 1, 8, f) == 8 && fwrite(&clen, 4, 1, f) == 1 && fwrite(canon, 1, clen, f) == clen &&
            fwrite(&n, 4, 1, f) == 1 && fwrite(prepared.prog.filter, sizeof *prepared.prog.filter, n, f) == n;
  ok = fclose(f) == 0 && ok;
  if (!ok || rename(tmp, path) < 0) unlink(tmp);
}

/* The program libseccomp would load, through its BPF export. */
static int compile(json_t *sc, struct ctl_err *e) {
  scmp_filter_ctx ctx = build_filter(sc, e);
  if (!ctx) return -1;
  int fd = memfd_create("ctl-seccomp", MFD_CLOEXEC);
  int r = fd < 0 ? -errno : seccomp_export_bpf(ctx, fd);
  seccomp_release(ctx);
  if (r < 0) {
    if (fd >= 0) close(fd);
    return ctl_fail(e, -r, "seccomp_export_bpf (linux.seccomp)");
  }
  off_t size = lseek(fd, 0, SEEK_END);
  size_t n = size > 0 ? (size_t)size / sizeof(struct sock_filter) : 0;
  struct sock_filter *insns = n ? calloc(n, sizeof *insns) : NULL;
  if (!insns || n > BPF_MAXINSNS || pread(fd, insns, n * sizeof *insns, 0) != (ssize_t)(n * sizeof *insns)) {
    close(fd);
    free(insns);
    return ctl_fail(e, EINVAL, "seccomp: the exported filter is empty, too long or unreadable");
  }
  close(fd);
  prepared.prog = (struct sock_fprog){.len = (unsigned short)n, .filter = insns};
  return 0;
}

int seccomp_prepare(json_t *sc, const char *cache_dir, struct ctl_err *e) {
  if (!sc) return 0;
  cleanup_free char *canon = json_dumps(sc, JSON_COMPACT | JSON_SORT_KEYS);
  if (!canon) return ctl_fail(e, ENOMEM, "seccomp: encode linux.seccomp");
  char path[PATH_MAX] = "";
  if (cache_dir) snprintf(path, sizeof path, "%s/seccomp-%016llx.bpf", cache_dir, (unsigned long long)fnv1a(canon));
  if (!*path || !cache_load(path, canon)) {
    if (compile(sc, e) < 0) return -1;
    if (*path) cache_store(path, canon);
  }
  prepared.flags = filter_flags(sc);
  prepared.sc = sc;
  return 0;
}

int seccomp_apply(json_t *sc, struct ctl_err *e) {
  if (!sc) return 0;
  if (prepared.sc == sc) {
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, prepared.flags, &prepared.prog) < 0)
      return ctl_fail(e, errno, "seccomp (linux.seccomp)");
    return 0;
  }
  scmp_filter_ctx ctx = build_filter(sc, e);
  if (!ctx) return -1;
  int r = seccomp_load(ctx);
  seccomp_release(ctx);
  if (r < 0) return ctl_fail(e, -r, "seccomp_load (linux.seccomp)");
  return 0;
}
