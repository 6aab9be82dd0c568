/**
 * ctl.system.v1 Check against a real instance: nothing to say about a freshly imported image;
 * a blob removed behind the store's back, a mount nobody holds under the instance's directories
 * and a shim of a bundle that is no task are each reported, and nothing is changed by looking;
 * so are the snapshotter's own leftovers (its System.Check), a loop mount and a loop device.
 */
import { strict as assert } from 'node:assert';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { WireClient, serviceSocket } from '@ctl/proto';
import { SIZE_LIMIT_LABEL, SnapshotsClient } from '@ctl/snapshotter/client';
import { SystemClient } from '../src/system/client';
import { TransferClient } from '../src/transfer/client';
import { ociArchive, tarStream } from './archive-helpers';
import { type Instance, startInstance } from './instance';

describe('system check', function () {
  this.timeout(60_000);
  let inst: Instance;
  let check: SystemClient;
  const mounted: string[] = [];
  const loops: string[] = [];
  let fakeShim: ChildProcess | undefined;

  before(async () => {
    inst = await startInstance({ snapshotter: true, drivers: ['overlayfs'] });
    check = new SystemClient(inst.wire);
  });
  after(async () => {
    if (fakeShim?.pid) process.kill(-fakeShim.pid, 'SIGKILL');
    for (const m of mounted) spawnSync('umount', [m]);
    for (const device of loops) spawnSync('losetup', ['-d', device]);
    await inst?.teardown();
  });

  it('takes two imports of the same image at once: both name it, and nothing is left over or inconsistent', async () => {
    const work = mkdtempSync(join(inst.tmp.base, 'twice-'));
    const layers = await Promise.all([0, 1, 2].map((i) => buffer(tarStream([{ name: `f${i}`, data: 'x'.repeat(100_000 + i) }]))));
    await ociArchive(join(work, 'same.tar'), 'example.com/twice:1', layers);
    const transfer = new TransferClient(inst.wire, 'twice');
    const request = {
      path: join(work, 'same.tar'),
      format: '',
      platforms: [],
      allPlatforms: false,
      snapshotter: 'overlayfs',
      unpack: true,
    };
    await Promise.all([1, 2].map(() => transfer.import({ ...request, baseName: '' }, () => undefined)));
    assert.deepEqual(
      (await inst.images('twice').list()).map((i) => i.name),
      ['example.com/twice:1'],
    );
    assert.deepEqual(await check.check(), []);
    await inst.images('twice').delete('example.com/twice:1');
    await inst.gc.collect();
    assert.deepEqual(await inst.leases('twice').list(), [], 'the imports leave no lease');
    assert.deepEqual(await inst.content('twice').list(), [], 'gc frees all of it');
    rmSync(work, { recursive: true, force: true });
  });

  it('finds nothing in a consistent engine, then each thing removed or left behind', async () => {
    const work = mkdtempSync(join(inst.tmp.base, 'work-'));
    const layer = await buffer(tarStream([{ name: 'f', data: 'x' }]));
    const image = await ociArchive(join(work, 'one.tar'), 'example.com/check:1', [layer]);
    await new TransferClient(inst.wire, 'chk').import(
      { path: join(work, 'one.tar'), format: '', platforms: [], allPlatforms: false, snapshotter: 'overlayfs', unpack: true, baseName: '' },
      () => undefined,
    );
    assert.deepEqual(await check.check(), []);

    // A blob gone from disk while its record stays.
    const config = (await inst.content('chk').list()).find((c) => c.labels['containerd.io/gc.ref.snapshot.overlayfs'] !== undefined);
    assert.ok(config, 'the config blob carries the unpacked snapshot label');
    unlinkSync(join(inst.tmp.root, 'containerd-lite', 'content', 'blobs', 'sha256', config.digest.slice(7)));

    // A mount under the instance's state that no task holds.
    const stray = join(inst.tmp.state, 'containerd-lite', 'stray');
    mkdirSync(stray, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', stray]);
    mounted.push(stray);

    // A shim (a shell named ctl-shim, waiting) of a bundle that is no task. It waits in the shell's
    // own `read`: a `sleep` would be forked, and for a moment that child carries the same command line.
    const shim = join(work, 'ctl-shim');
    copyFileSync('/bin/sh', shim);
    const bundle = join(inst.tmp.state, 'containerd-lite', 'tasks', 'chk', 'ghost');
    fakeShim = spawn(shim, ['-c', 'read -r _', 'ctl-shim', join(bundle, 'config.json')], {
      stdio: ['pipe', 'ignore', 'ignore'],
      detached: true,
    });
    await new Promise((r) => fakeShim!.once('spawn', r));

    const problems = await check.check();
    const kinds = problems.map((p) => `${p.kind} ${p.subject}`).sort();
    assert.deepEqual(kinds, [`blob ${config.digest}`, `mount ${stray}`, `shim ${fakeShim.pid}`].sort(), JSON.stringify(problems));
    assert.equal(image.diffIds.length, 1);
    // Looking changed nothing: the same answer again.
    assert.equal((await check.check()).length, 3);
    rmSync(work, { recursive: true, force: true });
    for (const m of mounted.splice(0)) execFileSync('umount', [m]);
    process.kill(-fakeShim.pid!, 'SIGKILL');
    fakeShim = undefined;
  });

  it("reports the snapshotter's own leftovers: a size-limited layer's loop mount no snapshot holds, a loop device on its files", async () => {
    const snapshots = new SnapshotsClient(new WireClient(serviceSocket(inst.tmp, 'snapshotter')), 'overlayfs');
    // A size-limited snapshot in use is no leftover.
    // (The blob the test before removed is still reported: only the snapshotter's kinds here.)
    const found = async (): Promise<string[]> =>
      (await check.check())
        .filter((p) => ['mount', 'loop', 'snapshotter'].includes(p.kind))
        .map((p) => `${p.kind} ${p.subject}`)
        .sort();
    // A gc root: nothing else refers to it, and the instance's gc may run at any time.
    await snapshots.prepare('chk/sized', '', { [SIZE_LIMIT_LABEL]: '8m', 'containerd.io/gc.root': 'test' });
    try {
      assert.deepEqual(await found(), []);
      // A loop-mounted image as a size-limited layer's, but no snapshot's (not named as an id, so
      // the snapshotter's own cleanup leaves it to us), and a loop device left bound to a file
      // under the driver's root.
      const dir = join(inst.tmp.root, 'snapshotter', 'overlayfs', 'snapshots', 'stray');
      const image = `${dir}.img`;
      mkdirSync(dir);
      execFileSync('truncate', ['-s', '8M', image]);
      execFileSync('mkfs.ext4', ['-q', image]);
      execFileSync('mount', ['-o', 'loop', image, dir]);
      mounted.push(dir);
      const loose = join(inst.tmp.root, 'snapshotter', 'overlayfs', 'loose.img');
      execFileSync('truncate', ['-s', '1M', loose]);
      const device = execFileSync('losetup', ['--find', '--show', loose], { encoding: 'utf8' }).trim();
      loops.push(device);
      assert.deepEqual(await found(), [`loop ${device}`, `mount ${dir}`]);
    } finally {
      await snapshots.remove('chk/sized');
    }
  });
});
