/**
 * A full root file system: a container fills it, and the engine still removes things, starts
 * on it, says ResourceExhausted where a write cannot be done, and serves normally once space
 * returns (before: `rm -f` failed with LevelDB's ENOSPC and the daemon did not start at all).
 * The root is a small loop-mounted ext4 (no blocks reserved for root) that the test makes.
 * Run under the CLI tests' lock (flock /tmp/cli-tests.lock).
 */
import { Children, type TempInstance, tempInstance, waitFor } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, rmdirSync, statfsSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { TOOLS, cgroupDirs } from './engine';
import { cgroupParent } from '@ctl/proto/paths';
import { bigImage } from './big-image';
import { ctl, spawnDaemon, stopDaemons } from './helpers';

const available = (dir: string): number => {
  const fs = statfsSync(dir);
  return fs.bavail * fs.bsize;
};

describe('a full root file system', function () {
  this.timeout(300_000);
  let instance: TempInstance;
  const children = new Children();
  const ns = `ctl-fulldisk-test-${process.pid}`;
  const env = {
    ...process.env,
    CTL_SNAPSHOTTER_DRIVERS: 'overlayfs',
    CTL_NAMESPACE: ns,
    CTL_NO_AUTOSTART: '1',
    CTL_DEFAULT_NETWORK: 'none',
  };
  const run = (...args: string[]) => ctl(instance, args, env);

  before(() => {
    instance = tempInstance('ctl-fulldisk-');
    const image = join(instance.base, 'disk.img');
    execFileSync('truncate', ['-s', '96M', image]);
    execFileSync('mkfs.ext4', ['-q', '-F', '-m', '0', image]);
    mkdirSync(instance.root, { recursive: true });
    execFileSync('mount', ['-o', 'loop', image, instance.root]);
  });
  after(async () => {
    await children.killAll();
    await stopDaemons(instance);
    const mounts = readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(instance.base));
    // Deepest first; the loop device goes with its mount (autoclear).
    for (const m of mounts.reverse()) execFileSync('umount', ['-l', m]);
    instance.remove();
    // The instance's own cgroup parent, its namespace level first (emptied ones, if delete left any).
    for (const dir of [...cgroupDirs(join(cgroupParent(instance), ns)), ...cgroupDirs(cgroupParent(instance))]) {
      try {
        rmdirSync(dir);
      } catch {
        // Not there, or not ours to empty.
      }
    }
  });

  it('removes, restarts and says ResourceExhausted on a full disk, and serves again once space returns', async () => {
    let daemon = await spawnDaemon(children, instance, env);
    const archive = join(instance.base, 'busybox.tar');
    execFileSync('bash', [join(TOOLS, 'busybox-image.sh'), archive]);
    assert.equal(run('image', 'import', archive).code, 0);

    const filled = run('run', '--name', 'filler', 'busybox', 'dd', 'if=/dev/zero', 'of=/fill', 'bs=1M');
    assert.match(filled.stderr + filled.stdout, /No space left on device/);
    // The last blocks, as a container's log or anything else of root's would take them.
    const rest = openSync(join(instance.root, 'rest'), 'w');
    try {
      for (;;) writeSync(rest, Buffer.alloc(4096));
    } catch {
      // Full.
    } finally {
      closeSync(rest);
    }
    assert.ok(available(instance.root) < 64 * 1024, 'the disk is full');

    // A write that cannot be done says why (the layer is larger than all reserves together).
    const big = run('image', 'import', bigImage(instance.base, 'docker.io/library/big:1', 32));
    assert.equal(big.code, 1);
    assert.match(big.stderr, /no space left on device/);

    // The daemon starts again on the full disk.
    daemon.process.kill('SIGKILL');
    await daemon.exited;
    daemon = await spawnDaemon(children, instance, env);

    // Removing works and frees the space.
    const before = available(instance.root);
    const rm = run('rm', '-f', 'filler');
    assert.equal(rm.code, 0, rm.stderr);
    // The snapshot's files go right after (the snapshotter removes them in the background).
    await waitFor('rm -f to free the container layer', () => available(instance.root) > before + (16 << 20) || undefined, 60_000);

    // Normal service, also after a restart, which makes the reserves again.
    daemon.process.kill('SIGTERM');
    await daemon.exited;
    await spawnDaemon(children, instance, env);
    const ok = run('run', '--rm', 'busybox', 'echo', 'ok');
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, 'ok\n');
    for (const name of ['containerd-lite', 'snapshotter', 'netd'])
      assert.ok(readdirSync(join(instance.root, name)).includes('meta.reserve'), `${name}'s database has its reserve again`);
  });
});
