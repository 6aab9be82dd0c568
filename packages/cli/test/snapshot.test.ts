import { type TempInstance, tempInstance } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ctl, stopDaemons } from './helpers';

describe('ctl snapshot', function () {
  this.timeout(60_000);
  let instance: TempInstance;
  const mounted: string[] = [];
  before(() => {
    instance = tempInstance();
  });
  after(async () => {
    for (const m of mounted) execFileSync('umount', [m]);
    await stopDaemons(instance);
    instance.remove();
  });

  const run = (...args: string[]) => {
    const r = ctl(instance, ['snapshot', ...args], { CTL_SNAPSHOTTER_DRIVERS: 'overlayfs,native' });
    return r;
  };

  it('prepares, mounts, commits, lists, trees, measures and removes', async () => {
    const prepared = ctl(instance, ['snapshot', 'prepare', 'base-active'], { CTL_SNAPSHOTTER_DRIVERS: 'overlayfs,native' });
    assert.equal(prepared.code, 0, prepared.stderr);
    assert.match(prepared.stdout, /^mount -t bind \S+ \/tmp\/mnt -o rw,rbind$/m);
    const target = join(instance.base, 'mnt');
    mkdirSync(target);
    const source = /^mount -t bind (\S+)/m.exec(prepared.stdout)![1]!;
    execFileSync('mount', ['--bind', source, target]);
    mounted.push(target);
    writeFileSync(join(target, 'hello'), 'world');
    execFileSync('umount', [mounted.pop()!]);
    assert.equal(run('commit', 'base', 'base-active').code, 0);
    assert.equal(run('prepare', 'child', 'base').code, 0);
    const mounts = run('mounts', '/target', 'child');
    assert.match(mounts.stdout, /^mount -t overlay overlay \/target -o workdir=.*,upperdir=.*,lowerdir=.*$/m);

    const ls = run('ls');
    assert.match(ls.stdout, /^KEY\s+PARENT\s+KIND$/m);
    assert.match(ls.stdout, /^base\s+COMMITTED$/m);
    assert.match(ls.stdout, /^child\s+base\s+ACTIVE$/m);
    assert.deepEqual(
      JSON.parse(run('ls', '--format', 'json', 'kind==active').stdout).map((i: { name: string }) => i.name),
      ['child'],
    );
    assert.equal(run('tree').stdout, '\\_ base\n  \\_ child\n');
    assert.equal(JSON.parse(run('info', 'base').stdout).kind, 'COMMITTED');
    assert.match(run('usage', 'base').stdout, /^base\s+\S+ \S+\s+[1-9]\d*$/m);
    assert.match(run('label', 'child', 'team=a').stdout, /^team=a$/m);

    const busy = run('rm', 'base');
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, /cannot remove snapshot "base": it has children/);
    assert.equal(run('rm', 'child', 'base').code, 0);
    assert.equal(run('ls', '-q').code, 125, 'unknown flag');
    assert.equal(run('ls').stdout.trim(), 'KEY   PARENT   KIND');
    // The layer really held the file: gone now with the snapshot.
    assert.throws(() => readFileSync(join(source, 'hello')));
  });

  it('serves other drivers with --snapshotter, other names with the default, and refuses drivers not loaded', () => {
    assert.equal(run('--snapshotter', 'native', 'prepare', 'n1').code, 0);
    assert.match(run('--snapshotter', 'native', 'ls').stdout, /^n1\s+ACTIVE$/m);
    assert.doesNotMatch(run('ls').stdout, /n1/);
    // A name no driver has is a proxy plugin's name (containerd's [proxy_plugins.NAME]): the default driver.
    assert.equal(run('prepare', 'd1').code, 0);
    assert.match(run('--snapshotter', 'mysnap', 'ls').stdout, /^d1\s+ACTIVE$/m);
    // A driver's own name (ctl-<driver> too) must be loaded: btrfs is not on this ext4 root.
    for (const name of ['btrfs', 'ctl-btrfs']) {
      const missing = run('--snapshotter', name, 'ls');
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /not loaded/);
    }
    assert.equal(run('--snapshotter', 'native', 'rm', 'n1').code, 0);
    assert.equal(run('rm', 'd1').code, 0);
  });

  it('rejects bad requests with clear errors', () => {
    assert.match(run('prepare', 'x', 'missing').stderr, /parent snapshot "missing" not found/);
    assert.match(run('commit', 'y', 'missing').stderr, /snapshot "missing" not found/);
    assert.equal(run('frob').code, 125);
  });
});
