/**
 * Sized directories on the real kernel (root): loop-mounted ext4 images that the tests make in
 * a temporary directory and always take down again, also when a test fails.
 */
import { ErrorKind, errorKind } from '@ctl/proto/errors';
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  MIN_SIZED_DIR_BYTES,
  createSizedDir,
  parseSize,
  remountSizedDir,
  removeSizedDir,
  sizedDirMount,
  temporaryImageOf,
} from '../src/quota';
import { MiB, fill, mountCount, mountedAt } from './fs-helpers';

const EXT4_MAGIC = 0xef53;

function loopsOf(image: string): string {
  return execFileSync('losetup', ['-j', image], { encoding: 'utf8' }).trim();
}

describe('sized directories (root, loop-mounted ext4)', function () {
  this.timeout(30_000);
  let base: string;
  /** Mount points and images this test made, taken down by exact path in afterEach. */
  let ourMounts: string[];
  let ourImages: string[];

  before(function () {
    if (process.getuid?.() !== 0) this.skip();
  });

  beforeEach(() => {
    base = realpathSync(mkdtempSync(join(tmpdir(), 'ctl-quota-')));
    ourMounts = [];
    ourImages = [];
  });

  afterEach(() => {
    if (!base) return;
    for (const mount of ourMounts.reverse()) {
      for (let i = 0; i < 4 && mountedAt(mount); i++) execFileSync('umount', [mount]);
    }
    for (const image of ourImages) {
      if (!existsSync(image)) continue;
      for (const line of loopsOf(image).split('\n').filter(Boolean)) execFileSync('losetup', ['-d', line.split(':')[0]]);
    }
    rmSync(base, { recursive: true, force: true });
  });

  function paths(name: string): { dir: string; image: string } {
    const dir = join(base, name);
    const image = join(base, `${name}.img`);
    ourMounts.push(dir);
    ourImages.push(image);
    return { dir, image };
  }

  it('limits writes inside the directory with ENOSPC and leaves files outside alone', async () => {
    const { dir, image } = paths('layer');
    await createSizedDir(dir, image, parseSize('16m'));
    assert.ok(mountedAt(dir), 'dir is a mount point');
    assert.equal(statfsSync(dir).type, EXT4_MAGIC);
    assert.notEqual(statSync(dir).dev, statSync(base).dev, 'dir is its own file system');

    const inside = fill(join(dir, 'big'), 64 * MiB);
    assert.equal(inside.code, 'ENOSPC', `writing 64 MiB into a 16 MiB dir stopped with ${inside.code ?? 'no error'}`);
    assert.ok(inside.written >= 12 * MiB && inside.written <= 16 * MiB, `wrote ${inside.written} bytes before ENOSPC`);

    // The host file system next to it still takes more than the whole limit.
    const outside = fill(join(base, 'outside'), 32 * MiB);
    assert.equal(outside.code, undefined);
    assert.equal(outside.written, 32 * MiB);
    // The image keeps its length: the limit is the file system's size, not the host's free space.
    assert.equal(statSync(image).size, 16 * MiB);
  });

  it('removes the mount, the loop device, the image and the empty mount point, twice', async () => {
    const { dir, image } = paths('gone');
    await createSizedDir(dir, image, 8 * MiB);
    writeFileSync(join(dir, 'f'), 'x');
    const info = await sizedDirMount(dir, image);
    assert.ok(info && /^\/dev\/loop\d+$/.test(info.device), `mounted through a loop device: ${JSON.stringify(info)}`);
    assert.match(loopsOf(image), /loop/);

    await removeSizedDir(dir, image);
    assert.ok(!readFileSync('/proc/mounts', 'utf8').includes(dir), 'no mount left in /proc/mounts');
    assert.ok(!execFileSync('losetup', ['-a'], { encoding: 'utf8' }).includes(image), 'no loop device left');
    assert.ok(!existsSync(image), 'image deleted');
    assert.ok(!existsSync(dir), 'empty mount point removed');
    await removeSizedDir(dir, image);
  });

  it('formats over, and removes, the temporary image a crashed create left', async () => {
    const { dir, image } = paths('crashed');
    writeFileSync(temporaryImageOf(image), 'half an image');
    await createSizedDir(dir, image, 8 * MiB);
    assert.ok(!existsSync(temporaryImageOf(image)));
    execFileSync('umount', [dir]);
    writeFileSync(temporaryImageOf(image), 'half an image');
    await removeSizedDir(dir, image);
    assert.ok(!existsSync(temporaryImageOf(image)) && !existsSync(image));
  });

  it('removes the image when the mount is already gone', async () => {
    const { dir, image } = paths('unmounted');
    await createSizedDir(dir, image, 8 * MiB);
    execFileSync('umount', [dir]);
    assert.equal(loopsOf(image), '', 'mount -o loop set autoclear');
    await removeSizedDir(dir, image);
    assert.ok(!existsSync(image));
  });

  it('mounts an existing image again with its content and its limit', async () => {
    const { dir, image } = paths('reboot');
    await createSizedDir(dir, image, 8 * MiB);
    writeFileSync(join(dir, 'kept'), 'still here');
    execFileSync('umount', [dir]); // as a reboot would
    assert.equal(await sizedDirMount(dir, image), undefined);

    await remountSizedDir(dir, image);
    await remountSizedDir(dir, image); // already mounted: nothing to do
    assert.equal(readFileSync(join(dir, 'kept'), 'utf8'), 'still here');
    assert.equal(mountCount(dir), 1, 'mounted once');
    assert.equal(fill(join(dir, 'big'), 32 * MiB).code, 'ENOSPC');
    await removeSizedDir(dir, image);
    assert.ok(!mountedAt(dir) && !existsSync(image));
  });

  it('is idempotent for one dir and image, and refuses a clash in size or a too small size', async () => {
    const { dir, image } = paths('twice');
    await createSizedDir(dir, image, 8 * MiB);
    await createSizedDir(dir, image, 8 * MiB);
    assert.equal(mountCount(dir), 1, 'mounted once');
    await assert.rejects(
      createSizedDir(dir, image, 16 * MiB),
      (err) => errorKind(err) === ErrorKind.AlreadyExists && /already exists with 8MiB/.test((err as Error).message),
    );

    const small = paths('small');
    await assert.rejects(
      createSizedDir(small.dir, small.image, MIN_SIZED_DIR_BYTES - 1),
      (err) => errorKind(err) === ErrorKind.InvalidArgument,
    );
    assert.ok(!existsSync(small.image));
    await assert.rejects(remountSizedDir(small.dir, small.image), (err) => errorKind(err) === ErrorKind.NotFound);
  });

  it('leaves a directory that never had a size alone', async () => {
    const plain = join(base, 'plain');
    mkdirSync(plain);
    writeFileSync(join(plain, 'data'), 'mine');
    await removeSizedDir(plain, join(base, 'plain.img'));
    assert.equal(readFileSync(join(plain, 'data'), 'utf8'), 'mine');
    await removeSizedDir(join(base, 'never-made'), join(base, 'never-made.img'));
  });

  it('neither unmounts nor covers a mount that its image does not back', async () => {
    const foreign = join(base, 'foreign');
    mkdirSync(foreign);
    ourMounts.push(foreign);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'ctl-test', foreign]);
    await assert.rejects(
      removeSizedDir(foreign, join(base, 'foreign.img')),
      (err) => errorKind(err) === ErrorKind.FailedPrecondition && /left alone/.test((err as Error).message),
    );
    assert.ok(mountedAt(foreign), 'the tmpfs is still mounted');
    await assert.rejects(
      createSizedDir(foreign, join(base, 'foreign.img'), 8 * MiB),
      (err) => errorKind(err) === ErrorKind.FailedPrecondition && /already a mount of ctl-test/.test((err as Error).message),
    );
    assert.ok(!existsSync(join(base, 'foreign.img')), 'no image left behind');
    assert.equal(mountCount(foreign), 1, 'nothing mounted on top');
  });
});
