/**
 * The btrfs driver on the real kernel (root), through the Driver interface, on a btrfs file
 * system that the suite makes in a loop-mounted image file and takes down again afterwards,
 * also when a test fails. Snapshots are checked by mounting the mounts the driver returns.
 */
import { ErrorKind, errorKind } from '@ctl/proto/errors';
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Driver, DriverSnapshot } from '../src/drivers/driver';
import { btrfsDriver } from '../src/drivers/btrfs/register';
import type { Mount } from '../src/snapshotter';
import { MiB, fill, mountedAt } from './fs-helpers';

function writeError(path: string): string | undefined {
  try {
    writeFileSync(path, 'x');
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
}

const active = (id: string, ...parents: string[]): DriverSnapshot => ({ id, kind: 'ACTIVE', parents });
const view = (id: string, ...parents: string[]): DriverSnapshot => ({ id, kind: 'VIEW', parents });
const committed = (id: string, ...parents: string[]): DriverSnapshot => ({ id, kind: 'COMMITTED', parents });

describe('btrfs driver (root, loop-mounted btrfs image)', function () {
  this.timeout(60_000);
  let base = '';
  let image = '';
  let fs = '';
  let fsMounted = false;
  let root = '';
  let driver: Driver;
  /** Mount points of snapshots this suite mounted, unmounted by exact path after each test. */
  const targets: string[] = [];

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    base = realpathSync(mkdtempSync(join(tmpdir(), 'ctl-btrfs-')));
    image = join(base, 'btrfs.img');
    fs = join(base, 'fs');
    mkdirSync(fs);
    writeFileSync(image, '');
    truncateSync(image, 1024 * MiB);
    execFileSync('mkfs.btrfs', ['-q', image], { stdio: 'ignore' });
    execFileSync('mount', ['-o', 'loop', image, fs]);
    fsMounted = true;
    root = join(fs, 'snapshotter', 'btrfs');
    assert.equal(await btrfsDriver.unsupported({ root }), undefined);
    driver = await btrfsDriver.open({ root });
  });

  afterEach(unmountTargets);

  after(() => {
    if (!base) return;
    unmountTargets();
    if (fsMounted) execFileSync('umount', [fs]);
    const loops = execFileSync('losetup', ['-j', image], { encoding: 'utf8' }).trim();
    for (const line of loops.split('\n').filter(Boolean)) execFileSync('losetup', ['-d', line.split(':')[0]]);
    rmSync(base, { recursive: true, force: true });
  });

  function unmountTargets(): void {
    for (const target of targets.splice(0).reverse()) {
      for (let i = 0; i < 4 && mountedAt(target); i++) execFileSync('umount', [target]);
    }
  }

  /** Mounts what the driver returned on a fresh directory, as a runtime would. */
  function mount(mounts: Mount[]): string {
    const target = mkdtempSync(join(base, 'mnt-'));
    targets.push(target);
    assert.equal(mounts.length, 1);
    const [m] = mounts;
    assert.equal(m.type, 'bind');
    execFileSync('mount', [m.options.includes('rbind') ? '--rbind' : '--bind', m.source, target]);
    if (m.options.includes('ro')) execFileSync('mount', ['-o', 'remount,bind,ro', target]);
    return target;
  }

  function unmount(target: string): void {
    execFileSync('umount', [target]);
    targets.splice(targets.indexOf(target), 1);
  }

  it('says why it cannot run on a file system that is not btrfs', async () => {
    const reason = await btrfsDriver.unsupported({ root: join(base, 'plain', 'btrfs') });
    assert.match(reason ?? '', /plain\/btrfs .*is on .*, not btrfs/);
    await assert.rejects(btrfsDriver.open({ root: join(base, 'plain') }), (err) => errorKind(err) === ErrorKind.FailedPrecondition);
  });

  it("shows a parent in its child, keeps the child's writes its own, and makes views read-only", async () => {
    await driver.create(active('1'), {});
    let dir = mount(driver.mounts(active('1')));
    writeFileSync(join(dir, 'base.txt'), 'parent');
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'sub', 'f'), 'deep');
    unmount(dir);
    await driver.commit(active('1'));
    assert.throws(
      () => driver.mounts(committed('1')),
      (err) => errorKind(err) === ErrorKind.FailedPrecondition,
    );
    assert.deepEqual(await driver.onDisk(), ['1']);

    await driver.create(active('2', '1'), {});
    dir = mount(driver.mounts(active('2', '1')));
    assert.equal(readFileSync(join(dir, 'base.txt'), 'utf8'), 'parent');
    assert.equal(readFileSync(join(dir, 'sub', 'f'), 'utf8'), 'deep');
    writeFileSync(join(dir, 'base.txt'), 'child');
    writeFileSync(join(dir, 'new.txt'), 'new');
    unmount(dir);

    await driver.create(view('3', '1'), {});
    const mounts = driver.mounts(view('3', '1'));
    assert.ok(mounts[0].options.includes('ro'));
    dir = mount(mounts);
    assert.equal(readFileSync(join(dir, 'base.txt'), 'utf8'), 'parent', "the parent did not see the child's write");
    assert.ok(!existsSync(join(dir, 'new.txt')));
    assert.equal(writeError(join(dir, 'base.txt')), 'EROFS');
    unmount(dir);
    // Read-only also below the mount: the view's subvolume itself refuses writes.
    assert.equal(writeError(join(driver.mounts(view('3', '1'))[0].source, 'x')), 'EROFS');

    await driver.commit(active('2', '1'));
    await driver.create(active('4', '2', '1'), {});
    dir = mount(driver.mounts(active('4', '2', '1')));
    assert.equal(readFileSync(join(dir, 'base.txt'), 'utf8'), 'child');
    assert.equal(readFileSync(join(dir, 'new.txt'), 'utf8'), 'new');
    unmount(dir);
    assert.deepEqual(await driver.onDisk(), ['1', '2', '3', '4']);
  });

  it('makes an empty read-only view without a parent', async () => {
    await driver.create(view('10'), {});
    const dir = mount(driver.mounts(view('10')));
    assert.deepEqual(execFileSync('ls', ['-A', dir], { encoding: 'utf8' }), '');
    assert.equal(writeError(join(dir, 'x')), 'EROFS');
    await assert.rejects(driver.commit(view('10')), (err) => errorKind(err) === ErrorKind.FailedPrecondition);
  });

  it('is idempotent on create and refuses a missing parent or a bad id', async () => {
    await driver.create(active('20'), {});
    writeFileSync(join(driver.mounts(active('20'))[0].source, 'kept'), 'yes');
    await driver.create(active('20'), {});
    assert.equal(readFileSync(join(driver.mounts(active('20'))[0].source, 'kept'), 'utf8'), 'yes');
    await assert.rejects(
      driver.create(active('21', '999'), {}),
      (err) => errorKind(err) === ErrorKind.NotFound && /parent 999/.test((err as Error).message),
    );
    assert.ok(!(await driver.onDisk()).includes('21'));
    await assert.rejects(driver.create(active('../x'), {}), (err) => errorKind(err) === ErrorKind.InvalidArgument);
  });

  it('commits the active subvolume again after a commit that crashed before deleting it', async () => {
    await driver.create(active('30'), {});
    const source = driver.mounts(active('30'))[0].source;
    writeFileSync(join(source, 'early'), '1');
    // The state a crash between `subvolume snapshot -r` and `subvolume delete` leaves.
    execFileSync('btrfs', ['subvolume', 'snapshot', '-r', source, join(root, 'snapshots', '30')], { stdio: 'ignore' });
    writeFileSync(join(source, 'late'), '2');
    await driver.commit(active('30'));
    await driver.commit(active('30')); // done already: nothing to do
    assert.ok(!existsSync(source));
    await driver.create(view('31', '30'), {});
    const dir = driver.mounts(view('31', '30'))[0].source;
    assert.equal(readFileSync(join(dir, 'late'), 'utf8'), '2');
  });

  it("counts a layer's own files in usage, not its parent's", async () => {
    await driver.create(active('40'), {});
    assert.equal(fill(join(driver.mounts(active('40'))[0].source, 'parent.bin'), 2 * MiB).code, undefined);
    await driver.commit(active('40'));
    const parentUsage = await driver.usage(committed('40'));
    assert.ok(parentUsage.size >= 2 * MiB && parentUsage.inodes >= 2, `parent usage ${JSON.stringify(parentUsage)}`);

    await driver.create(active('41', '40'), {});
    const fresh = await driver.usage(active('41', '40'));
    assert.ok(fresh.size < 64 * 1024 && fresh.inodes <= 1, `fresh child usage ${JSON.stringify(fresh)}`);

    const dir = driver.mounts(active('41', '40'))[0].source;
    assert.equal(fill(join(dir, 'own.bin'), 1 * MiB).code, undefined);
    writeFileSync(join(dir, 'small'), 'hello');
    execFileSync('sync', ['-f', join(dir, 'small')]);
    const child = await driver.usage(active('41', '40'));
    assert.ok(child.size >= 1 * MiB && child.size < 2 * MiB, `child usage ${JSON.stringify(child)} counts own.bin, not parent.bin`);
    assert.ok(child.inodes >= 3 && child.inodes <= 4, `child inodes ${child.inodes}: own.bin, small, the root dir`);

    await driver.commit(active('41', '40'));
    assert.deepEqual(await driver.usage(committed('41', '40')), child, 'the same usage after commit');
    await assert.rejects(driver.usage(active('49')), (err) => errorKind(err) === ErrorKind.NotFound);
  });

  it('stops writes past a size limit with EDQUOT inside, while other snapshots write on', async () => {
    await driver.create(active('50'), {});
    assert.equal(fill(join(driver.mounts(active('50'))[0].source, 'image.bin'), 4 * MiB).code, undefined);
    await driver.commit(active('50'));

    await driver.create(active('51', '50'), { sizeLimit: 8 * MiB });
    await driver.create(active('52', '50'), {});
    const limited = mount(driver.mounts(active('51', '50')));
    const other = mount(driver.mounts(active('52', '50')));

    const inside = fill(join(limited, 'big'), 64 * MiB);
    assert.ok(
      inside.code === 'EDQUOT' || inside.code === 'ENOSPC',
      `writing 64 MiB past an 8 MiB limit stopped with ${inside.code ?? 'no error'}`,
    );
    // The limit is on the layer's own bytes: the parent's 4 MiB do not count against it.
    assert.ok(inside.written >= 6 * MiB && inside.written <= 8 * MiB, `wrote ${inside.written} bytes before ${inside.code}`);
    assert.equal(readFileSync(join(limited, 'image.bin')).length, 4 * MiB);

    const outside = fill(join(other, 'big'), 24 * MiB);
    assert.equal(outside.code, undefined, 'the unlimited sibling writes past the limit');
    assert.equal(outside.written, 24 * MiB);

    // The committed layer keeps no limit.
    await driver.commit(active('52', '50'));
    await driver.create(active('53', '52', '50'), {});
    assert.equal(fill(join(driver.mounts(active('53', '52', '50'))[0].source, 'more'), 16 * MiB).code, undefined);
  });

  it('removes every subvolume, nested ones and crash leftovers too, and is idempotent', async () => {
    // A container may make a subvolume of its own inside its layer.
    await driver.create(active('60'), {});
    execFileSync('btrfs', ['subvolume', 'create', join(driver.mounts(active('60'))[0].source, 'nested')], { stdio: 'ignore' });
    // A create that crashed before its rename leaves a subvolume under tmp/.
    execFileSync('btrfs', ['subvolume', 'create', join(root, 'tmp', '61')], { stdio: 'ignore' });
    const ids = await driver.onDisk();
    assert.ok(ids.includes('60') && ids.includes('61') && ids.length > 2, `on disk: ${ids.join(' ')}`);

    for (const id of ids.reverse()) await driver.remove(id);
    assert.deepEqual(await driver.onDisk(), []);
    assert.equal(execFileSync('btrfs', ['subvolume', 'list', fs], { encoding: 'utf8' }).trim(), '', 'no subvolume left');
    await driver.remove('60');
    await driver.remove('999');
  });
});
