import * as assert from 'node:assert/strict';
import { loadDefaultProfile, resolveProfile } from './seccomp';

describe('default seccomp profile', () => {
  const profile = loadDefaultProfile();
  const allowed = (caps: string[], arch = 'x64') =>
    new Set(
      resolveProfile(profile, caps, arch)
        .syscalls!.filter((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args)
        .flatMap((r) => r.names),
    );

  it('is an allowlist that denies with EPERM by default', () => {
    const s = resolveProfile(profile, []);
    assert.equal(s.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(s.defaultErrnoRet, 1);
    assert.deepEqual(s.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  });

  it('allows ordinary syscalls and blocks keyctl, add_key, mount, unshare without capabilities', () => {
    const a = allowed([]);
    for (const n of ['read', 'write', 'openat', 'execve', 'clock_gettime', 'futex']) assert.ok(a.has(n), n);
    for (const n of ['keyctl', 'add_key', 'request_key', 'mount', 'unshare', 'setns', 'reboot', 'kexec_load', 'bpf'])
      assert.ok(!a.has(n), n);
  });

  it('gates syscalls on capabilities', () => {
    assert.ok(allowed(['CAP_SYS_ADMIN']).has('unshare'));
    assert.ok(allowed(['CAP_SYS_PTRACE']).has('kcmp'));
    assert.ok(allowed(['CAP_SYS_TIME']).has('settimeofday'));
    assert.ok(!allowed(['CAP_SYS_TIME']).has('kcmp'));
  });

  it('restricts clone flags and makes clone3 fail with ENOSYS without CAP_SYS_ADMIN', () => {
    const rules = resolveProfile(profile, []).syscalls!;
    const clone = rules.find((r) => r.names.includes('clone') && r.args);
    assert.equal(clone?.args?.[0].op, 'SCMP_CMP_MASKED_EQ');
    assert.equal(clone?.args?.[0].value, 0x7e020000);
    const clone3 = rules.find((r) => r.names.includes('clone3'));
    assert.deepEqual([clone3?.action, clone3?.errnoRet], ['SCMP_ACT_ERRNO', 38]);
    assert.equal(resolveProfile(profile, ['CAP_SYS_ADMIN']).syscalls!.find((r) => r.names.includes('clone3'))?.action, 'SCMP_ACT_ALLOW');
  });

  it('keeps architecture-specific rules to their architecture', () => {
    assert.ok(allowed([], 'x64').has('arch_prctl'));
    assert.ok(!allowed([], 'arm64').has('arch_prctl'));
    assert.ok(allowed([], 'arm64').has('set_tls'));
  });
});
