/* Seccomp: linux.seccomp of the spec compiled by libseccomp and loaded into the process. */
#include "ctl.h"
#include <seccomp.h>
#include <stdio.h>

static int parse_action(const char *name, long long errno_ret, uint32_t *out) {
  if (!strcmp(name, "SCMP_ACT_KILL") || !strcmp(name, "SCMP_ACT_KILL_THREAD")) *out = SCMP_ACT_KILL_THREAD;
  else if (!strcmp(name, "SCMP_ACT_KILL_PROCESS")) *out = SCMP_ACT_KILL_PROCESS;
  else if (!strcmp(name, "SCMP_ACT_TRAP")) *out = SCMP_ACT_TRAP;
  else if (!strcmp(name, "SCMP_ACT_ERRNO")) *out = SCMP_ACT_ERRNO((uint16_t)errno_ret);
  else if (!strcmp(name, "SCMP_ACT_TRACE")) *out = SCMP_ACT_TRACE((uint16_t)errno_ret);
  else if (!strcmp(name, "SCMP_ACT_ALLOW")) *out = SCMP_ACT_ALLOW;
  else if (!strcmp(name, "SCMP_ACT_LOG")) *out = SCMP_ACT_LOG;
  else return -1;
  return 0;
}

static int parse_op(const char *name, enum scmp_compare *op) {
  static const struct {
    const char *n;
    enum scmp_compare op;
  } OPS[] = {{"SCMP_CMP_NE", SCMP_CMP_NE}, {"SCMP_CMP_LT", SCMP_CMP_LT}, {"SCMP_CMP_LE", SCMP_CMP_LE}, {"SCMP_CMP_EQ", SCMP_CMP_EQ},
             {"SCMP_CMP_GE", SCMP_CMP_GE}, {"SCMP_CMP_GT", SCMP_CMP_GT}, {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ}};
  for (size_t i = 0; i < sizeof OPS / sizeof *OPS; i++)
    if (!strcmp(name, OPS[i].n)) return *op = OPS[i].op, 0;
  return -1;
}

static uint32_t parse_arch(const char *name) {
  static const struct {
    const char *n;
    uint32_t a;
  } ARCH[] = {{"SCMP_ARCH_X86", SCMP_ARCH_X86}, {"SCMP_ARCH_X86_64", SCMP_ARCH_X86_64}, {"SCMP_ARCH_X32", SCMP_ARCH_X32},
              {"SCMP_ARCH_ARM", SCMP_ARCH_ARM}, {"SCMP_ARCH_AARCH64", SCMP_ARCH_AARCH64}, {"SCMP_ARCH_MIPS", SCMP_ARCH_MIPS},
              {"SCMP_ARCH_MIPS64", SCMP_ARCH_MIPS64}, {"SCMP_ARCH_MIPS64N32", SCMP_ARCH_MIPS64N32}, {"SCMP_ARCH_MIPSEL", SCMP_ARCH_MIPSEL},
              {"SCMP_ARCH_MIPSEL64", SCMP_ARCH_MIPSEL64}, {"SCMP_ARCH_MIPSEL64N32", SCMP_ARCH_MIPSEL64N32}, {"SCMP_ARCH_PPC", SCMP_ARCH_PPC},
              {"SCMP_ARCH_PPC64", SCMP_ARCH_PPC64}, {"SCMP_ARCH_PPC64LE", SCMP_ARCH_PPC64LE}, {"SCMP_ARCH_S390", SCMP_ARCH_S390},
              {"SCMP_ARCH_S390X", SCMP_ARCH_S390X}, {"SCMP_ARCH_RISCV64", SCMP_ARCH_RISCV64}};
  for (size_t i = 0; i < sizeof ARCH / sizeof *ARCH; i++)
    if (!strcmp(name, ARCH[i].n)) return ARCH[i].a;
  return 0;
}

int seccomp_apply(json_t *sc, struct ctl_err *e) {
  if (!sc) return 0;
  uint32_t defact;
  long long def_errno = EPERM;
  jint(sc, "defaultErrnoRet", &def_errno);
  const char *da = jstr(sc, "defaultAction");
  if (!da || parse_action(da, def_errno, &defact) < 0) return ctl_fail(e, 0, "linux.seccomp.defaultAction: unknown action \"%s\"", da ? da : "");
  scmp_filter_ctx ctx = seccomp_init(defact);
  if (!ctx) return ctl_fail(e, ENOMEM, "seccomp_init");
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
    if (!strcmp(f, "SECCOMP_FILTER_FLAG_LOG")) seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1);
    else if (!strcmp(f, "SECCOMP_FILTER_FLAG_SPEC_ALLOW")) seccomp_attr_set(ctx, SCMP_FLTATR_CTL_SSB, 1);
  }
  /* no_new_privs is the spec's business (process.noNewPrivileges), not libseccomp's */
  seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
  r = seccomp_load(ctx);
  if (r < 0) {
    ctl_fail(e, -r, "seccomp_load (linux.seccomp)");
    goto fail;
  }
  seccomp_release(ctx);
  return 0;
fail:
  seccomp_release(ctx);
  return -1;
}
