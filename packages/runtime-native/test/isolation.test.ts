/** Isolation on the real kernel: namespaces, mounts, capabilities, seccomp, user namespace. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_MASKED_PATHS } from '../src';
import { type Fixture, useFixture } from './helpers';

describe('runtime isolation (root, real kernel)', function () {
  let fx!: Fixture;
  useFixture((f) => (fx = f));

  it('runs the process as pid 1 and hides host pids', async () => {
    const id = fx.id();
    const b = fx.bundle(id, [
      'sh',
      '-c',
      `echo pid=$$; test -e /proc/${process.pid} && echo host-visible || echo host-hidden; ls /proc | grep -c '^[0-9]'`,
    ]);
    const r = await fx.runtime.runForeground(id, b);
    assert.equal(r.code, 0, r.stderr);
    const [pidLine, vis, count] = r.stdout.trim().split('\n');
    assert.equal(pidLine, 'pid=1');
    assert.equal(vis, 'host-hidden');
    assert.ok(Number(count) <= 4, `only the container's few processes are listed, got ${count}`);
  });

  it('sets the hostname in its own uts namespace', async () => {
    const id = fx.id();
    const b = fx.bundle(id, ['hostname'], { hostname: 'ctl-test-host' });
    const r = await fx.runtime.runForeground(id, b);
    assert.equal(r.stdout.trim(), 'ctl-test-host');
    assert.notEqual(os.hostname(), 'ctl-test-host');
  });

  it('brings up lo in a new network namespace (as runc does), also in a user namespace', async () => {
    // lo's flags: 0x9 is IFF_UP|IFF_LOOPBACK, 0x8 is down ("Network is unreachable" for 127.0.0.1)
    const cmd = ['sh', '-c', 'cat /sys/class/net/lo/flags; ping -c1 -W5 127.0.0.1 >/dev/null && echo up'];
    const id = fx.id();
    const r = await fx.runtime.runForeground(id, fx.bundle(id, cmd));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['0x9', 'up']);
    const userns = {
      uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
      gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
    };
    const id2 = fx.id();
    const r2 = await fx.runtime.runForeground(id2, fx.bundle(id2, ['cat', '/sys/class/net/lo/flags'], { userns }));
    assert.equal(r2.stdout.trim(), '0x9', r2.stderr);
  });

  it('keeps a mount made inside invisible outside', async () => {
    const id = fx.id();
    const b = fx.bundle(id, ['sh', '-c', 'mount -t tmpfs inside /mnt && touch /mnt/made-inside && grep -c " /mnt " /proc/self/mountinfo'], {
      privileged: true,
    });
    const r = await fx.runtime.runForeground(id, b);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '1');
    assert.equal(fs.existsSync(path.join(fx.rootfs, 'mnt', 'made-inside')), false);
    assert.ok(!fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(' inside '));
  });

  it('refuses writes to a read-only root', async () => {
    const id = fx.id();
    const b = fx.bundle(id, ['touch', '/rootfile'], { readonlyRootfs: true });
    const r = await fx.runtime.runForeground(id, b);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Read-only file system/);
    assert.equal(fs.existsSync(path.join(fx.rootfs, 'rootfile')), false);
  });

  it('drops CAP_SYS_ADMIN by default (mount fails) and keeps it when privileged', async () => {
    const cmd = ['sh', '-c', 'mount -t tmpfs t /mnt && echo mounted'];
    const id1 = fx.id();
    const denied = await fx.runtime.runForeground(id1, fx.bundle(id1, cmd, { seccomp: 'unconfined' }));
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /Operation not permitted|permission denied/i);
    const id2 = fx.id();
    const allowed = await fx.runtime.runForeground(id2, fx.bundle(id2, cmd, { privileged: true }));
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.equal(allowed.stdout.trim(), 'mounted');
  });

  it('applies the capability sets (CapEff/CapBnd of the default list)', async () => {
    const id = fx.id();
    const r = await fx.runtime.runForeground(id, fx.bundle(id, ['grep', '-E', '^Cap(Eff|Bnd|Amb)', '/proc/self/status']));
    // the 14 Docker defaults: chown dac_override fowner fsetid kill setgid setuid setpcap
    // net_bind_service net_raw sys_chroot mknod audit_write setfcap
    assert.match(r.stdout, /CapEff:\s+00000000a80425fb/);
    assert.match(r.stdout, /CapBnd:\s+00000000a80425fb/);
    assert.match(r.stdout, /CapAmb:\s+0000000000000000/);
  });

  it('the default seccomp profile blocks unshare of a user namespace (allowed unconfined)', async () => {
    const cmd = ['sh', '-c', 'unshare -U true && echo unshared'];
    const id1 = fx.id();
    const blocked = await fx.runtime.runForeground(id1, fx.bundle(id1, cmd));
    assert.notEqual(blocked.code, 0);
    assert.match(blocked.stderr, /Operation not permitted/);
    const id2 = fx.id();
    const free = await fx.runtime.runForeground(id2, fx.bundle(id2, cmd, { seccomp: 'unconfined' }));
    assert.equal(free.code, 0, free.stderr);
    assert.equal(free.stdout.trim(), 'unshared');
  });

  it('keeps the compiled default profile in the runtime root, blocks from the cache too, and recompiles a damaged cache', async () => {
    const cmd = ['sh', '-c', 'unshare -U true && echo unshared'];
    const cached = (): string[] => fs.readdirSync(fx.runtime.root).filter((f) => /^seccomp-[0-9a-f]{16}\.bpf$/.test(f));
    const blocked = async (): Promise<void> => {
      const id = fx.id();
      const r = await fx.runtime.runForeground(id, fx.bundle(id, cmd));
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /Operation not permitted/);
    };
    await blocked();
    const [file] = cached();
    assert.ok(file, 'a compiled filter is cached');
    const built = fs.statSync(path.join(fx.runtime.root, file)).mtimeMs;
    await blocked(); // loaded from the cache
    assert.equal(fs.statSync(path.join(fx.runtime.root, file)).mtimeMs, built, 'the cache was used, not rewritten');
    fs.writeFileSync(path.join(fx.runtime.root, file), 'CTLBPF1\ngarbage');
    await blocked(); // a damaged entry is ignored and written again
    assert.ok(fs.statSync(path.join(fx.runtime.root, file)).size > 1000);
  });

  it('user namespace: root inside owns files as the mapped uid outside', async () => {
    const data = fs.mkdtempSync(path.join(fx.dir, 'data-'));
    fs.chmodSync(data, 0o777);
    const map = [{ containerID: 0, hostID: 200000, size: 65536 }];
    const id = fx.id();
    const b = fx.bundle(id, ['sh', '-c', 'id -u; touch /data/owned; chown 5:5 /data/owned'], {
      userns: { uidMappings: map, gidMappings: map },
      binds: [`${data}:/data`],
    });
    const r = await fx.runtime.runForeground(id, b);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '0');
    const st = fs.statSync(path.join(data, 'owned'));
    assert.equal(st.uid, 200005);
    assert.equal(st.gid, 200005);
  });

  it('applies user, groups, cwd, env, sysctl and rlimits', async () => {
    const id = fx.id();
    const b = fx.bundle(id, ['sh', '-c', 'id; pwd; echo $GREETING; cat /proc/sys/net/ipv4/ip_forward; ulimit -n'], {
      user: '1000:1000',
      additionalGids: [20, 30],
      workdir: '/tmp',
      env: ['GREETING=hello'],
      sysctls: { 'net.ipv4.ip_forward': '1' },
      ulimits: [{ type: 'RLIMIT_NOFILE', soft: 256, hard: 512 }],
    });
    const r = await fx.runtime.runForeground(id, b);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['uid=1000 gid=1000 groups=20,30', '/tmp', 'hello', '1', '256']);
  });

  it('resolves mount destinations inside the rootfs: an image symlink cannot aim a mount at the host', async () => {
    const outside = path.join(fx.dir, 'outside');
    fs.mkdirSync(outside);
    const link = path.join(fx.rootfs, 'escape');
    fs.symlinkSync(outside, link);
    try {
      const id = fx.id();
      const b = fx.bundle(id, ['sh', '-c', 'touch /escape/mnt/made && echo ok'], {
        mounts: [{ destination: '/escape/mnt', type: 'tmpfs', source: 'tmpfs', options: ['nosuid'] }],
      });
      const r = await fx.runtime.runForeground(id, b);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), 'ok');
      assert.deepEqual(fs.readdirSync(outside), [], 'nothing was made in the host directory');
    } finally {
      fs.rmSync(link);
    }
  });

  it('--no-pivot: the root is moved and chrooted instead of pivoted', async () => {
    const id = fx.id();
    const b = fx.bundle(id, ['sh', '-c', 'ls /; test -e /proc/1/root/bin/busybox && echo rootfs-is-root']);
    const r = await fx.runtime.command(['run', '--no-pivot', '--bundle', b, id]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /rootfs-is-root/);
    assert.ok(!r.stdout.includes('bundles'), 'host directories are not visible');
  });

  it('sets up /dev, masked and read-only paths, oom_score_adj and no_new_privs', async () => {
    // a masked /proc file that this kernel has and that is not empty on the host
    const masked = DEFAULT_MASKED_PATHS.find(
      (p) => p.startsWith('/proc/') && fs.existsSync(p) && fs.statSync(p).isFile() && fs.readFileSync(p).length > 0,
    );
    assert.ok(masked, 'no masked /proc file exists on this kernel');
    const id = fx.id();
    const script = [
      'ls -l /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty | cut -c1',
      'for l in fd stdin stdout stderr ptmx; do readlink /dev/$l; done',
      `wc -c < ${masked}`,
      'echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo sys-writable || echo sys-readonly',
      'ls /sys/firmware | wc -l',
      'cat /proc/self/oom_score_adj',
      'grep NoNewPrivs /proc/self/status',
      'grep -c " /dev/shm " /proc/self/mountinfo',
    ].join('; ');
    const b = fx.bundle(id, ['sh', '-c', script], { oomScoreAdj: 500, noNewPrivileges: true });
    const r = await fx.runtime.runForeground(id, b);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.deepEqual(lines.slice(0, 6), ['c', 'c', 'c', 'c', 'c', 'c']);
    assert.deepEqual(lines.slice(6, 11), ['/proc/self/fd', '/proc/self/fd/0', '/proc/self/fd/1', '/proc/self/fd/2', 'pts/ptmx']);
    assert.deepEqual(
      lines.slice(11).map((l) => l.replace(/\s+/g, ' ').trim()),
      ['0', 'sys-readonly', '0', '500', 'NoNewPrivs: 1', '1'],
    );
  });

  it('applies process.scheduler (nice) and process.ioPriority', async () => {
    const id = fx.id();
    const b = fx.bundle(id, ['sh', '-c', 'cut -d" " -f19 /proc/self/stat; ionice -p $$'], {}, (s) => {
      s.process!.scheduler = { policy: 'SCHED_OTHER', nice: 7 };
      s.process!.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 6 };
    });
    const r = await fx.runtime.runForeground(id, b);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['7', 'best-effort: prio 6']);
  });
});
