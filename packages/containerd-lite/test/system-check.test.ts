/**
 * ctl.system.v1 Check against a real instance: nothing to say about a freshly imported image;
 * a blob removed behind the store's back, a mount nobody holds under the instance's directories
 * and a shim of a bundle that is no task are each reported, and nothing is changed by looking.
 */
import { strict as assert } from 'node:assert';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { SystemClient } from '../src/system/client';
import { TransferClient } from '../src/transfer/client';
import { ociArchive, tarStream } from './archive-helpers';
import { type Instance, startInstance } from './instance';

describe('system check', function () {
  this.timeout(60_000);
  let inst: Instance;
  let check: SystemClient;
  const mounted: string[] = [];
  let fakeShim: ChildProcess | undefined;

  before(async () => {
    inst = await startInstance({ snapshotter: true, drivers: ['overlayfs'] });
    check = new SystemClient(inst.wire);
  });
  after(async () => {
    if (fakeShim?.pid) process.kill(-fakeShim.pid, 'SIGKILL');
    for (const m of mounted) execFileSync('umount', [m]);
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
  });
});
