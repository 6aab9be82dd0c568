/**
 * The root filesystem in the mount namespaces the OCI spec allows besides a new one: none (the
 * caller's is inherited), one joined by path, and linux.rootfsPropagation (real kernel, root).
 */
import * as assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildSpec } from '../src';
import type { Spec } from '../src';
import { type Fixture, assertNoLeftovers, until, useFixture } from './helpers';

describe('rootfs in other mount namespaces (root, real kernel)', function () {
  let fx!: Fixture;
  useFixture((f) => (fx = f));

  /** config.json text for cmd, edited (written raw: the engine's own validator wants a new mount namespace). */
  function config(id: string, cmd: string[], edit: (s: Spec) => void): string {
    const s = buildSpec({ Env: ['PATH=/bin'] }, { id, cmd, rootfs: fx.rootfs });
    edit(s);
    return JSON.stringify(s);
  }

  const mountLines = (): string[] => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  /** A file only the rootfs has (the host's / has no such name): proves a process runs in the rootfs. */
  const MARKER = `/etc/only-in-rootfs-${process.pid}`;
  before(() => fx && fs.writeFileSync(path.join(fx.rootfs, MARKER), ''));

  it('without a mount namespace the init inherits ours, runs in the rootfs, and delete detaches its mounts', async () => {
    const id = fx.id();
    const text = config(id, ['sleep', '1000'], (s) => (s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'mount')));
    await fx.runtime.create(id, fx.rawBundle(id, text));
    const { pid } = await fx.runtime.state(id);
    assert.equal(fs.readlinkSync(`/proc/${pid}/ns/mnt`), fs.readlinkSync('/proc/self/ns/mnt'));
    assert.equal(fs.readlinkSync(`/proc/${pid}/root`), fx.rootfs, 'chrooted into the rootfs');
    assert.ok(
      mountLines().some((l) => l.split(' ')[4] === path.join(fx.rootfs, 'proc')),
      'the spec mounts are in our namespace',
    );
    const r = await fx.runtime.exec(id, { user: { uid: 0, gid: 0 }, args: ['cat', MARKER], cwd: '/', env: ['PATH=/bin'] });
    assert.equal(r.code, 0, `exec runs in the container's root too: ${r.stderr}`);
    await fx.runtime.delete(id, true);
    assertNoLeftovers(id, fx); // no mount under the rootfs remains
  });

  it('a mount namespace joined by path gets the rootfs set up in it', async () => {
    const holder: ChildProcess = spawn('unshare', ['--mount', '--propagation', 'private', 'sleep', '1000'], { stdio: 'ignore' });
    try {
      const nsOf = (pid: number): string => fs.readlinkSync(`/proc/${pid}/ns/mnt`);
      await until(() => nsOf(holder.pid!) !== nsOf(process.pid));
      const id = fx.id();
      const text = config(id, ['sh', '-c', `cat ${MARKER} && readlink /proc/self/ns/mnt`], (s) => {
        for (const n of s.linux!.namespaces!) if (n.type === 'mount') n.path = `/proc/${holder.pid}/ns/mnt`;
      });
      const r = await fx.runtime.runForeground(id, fx.rawBundle(id, text));
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), nsOf(holder.pid!));
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('a mount namespace path naming our own is inheriting it: no pivot_root of our root', async () => {
    // (not run without the guard: pivot_root in this namespace would move this machine's root)
    const id = fx.id();
    const text = config(id, ['cat', MARKER], (s) => {
      for (const n of s.linux!.namespaces!) if (n.type === 'mount') n.path = `/proc/${process.pid}/ns/mnt`;
    });
    const r = await fx.runtime.runForeground(id, fx.rawBundle(id, text));
    assert.equal(r.code, 0, r.stderr);
    assert.ok(fs.existsSync(path.join(fx.rootfs, MARKER.slice(1))) && !fs.existsSync(MARKER), 'our / is still ours');
    assertNoLeftovers(id, fx);
  });

  for (const [propagation, field] of [
    ['shared', /shared:\d+/],
    ['unbindable', /unbindable/],
  ] as const) {
    it(`rootfsPropagation ${propagation}: pivot_root succeeds and the container's / has it`, async () => {
      const id = fx.id();
      const b = fx.bundle(id, ['awk', '$5 == "/"', '/proc/self/mountinfo'], {}, (s) => {
        s.linux!.rootfsPropagation = propagation;
      });
      const r = await fx.runtime.runForeground(id, b);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, field);
    });
  }
});
