/**
 * Size-limited directories for file systems without project quotas: the directory is the mount
 * point of an ext4 file system that lives in a sparse image file of the limit's size, attached
 * through a loop device. Writing past the size fails with ENOSPC inside, and nothing outside the
 * directory shares its space accounting.
 *
 * Why ext4 and not xfs: mkfs.xfs (xfsprogs >= 5.19) refuses file systems under 300 MiB, and a
 * writable layer is often asked to be smaller than that; ext4 formats down to a few MiB.
 *
 * Lifecycle: createSizedDir makes the image (under a temporary name, renamed when formatted, so
 * a crash never leaves a half-formatted image under the real name) and mounts it;
 * removeSizedDir unmounts and deletes it; remountSizedDir mounts an existing image again after
 * a reboot. All three are idempotent, and none unmounts anything not backed by its own image.
 */
import { ErrorKind, alreadyExists, failedPrecondition, invalidArgument, notFound, wrap } from '@ctl/proto/errors';
import { type Stats } from 'node:fs';
import { mkdir, open, realpath, rename, rm, rmdir, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { formatSize } from './size';
import { mountTable } from '@ctl/runtime-native/mount';
import { loopBackingFile, loopDevicesOf, mountsAt, run } from './system';

/**
 * The smallest image createSizedDir formats. ext4 itself formats smaller, but below this the
 * journal and inode tables take a large share of the space the caller asked for.
 */
export const MIN_SIZED_DIR_BYTES = 4 * 1024 * 1024;

/** What backs a mounted sized directory. */
export interface SizedDirInfo {
  /** The image behind the directory's mount. */
  image: string;
  /** Loop device the image is attached through, e.g. /dev/loop3. */
  device: string;
}

/**
 * Makes dir (and its parents) a mount point of a new ext4 file system of `bytes` bytes kept in
 * the sparse file imagePath. The usable space is a little less than `bytes` (the journal, inode
 * tables and lost+found take some); no blocks are reserved for root, since containers usually
 * write as root. Called again for the same dir and image it only mounts what is not mounted.
 */
export async function createSizedDir(dir: string, imagePath: string, bytes: number): Promise<void> {
  if (!Number.isSafeInteger(bytes) || bytes < MIN_SIZED_DIR_BYTES) {
    throw invalidArgument(`sized directory ${dir}: size ${bytes} bytes is below the minimum of ${formatSize(MIN_SIZED_DIR_BYTES)}`);
  }
  await mkdir(dirname(resolve(imagePath)), { recursive: true, mode: 0o700 });
  const image = await resolveFile(imagePath);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const target = await realpath(dir);

  const existing = await statOrUndefined(image);
  if (existing) {
    if (existing.size !== bytes) {
      throw alreadyExists(
        `sized directory ${target}: image ${image} already exists with ${formatSize(existing.size)}, not ${formatSize(bytes)}`,
      );
    }
    // A second call, or a crash after the image was renamed into place but before the mount.
    await mountImage(target, image);
    return;
  }

  // One fixed temporary name, so that removeSizedDir and a caller's cleanup find what a crash
  // left without listing the directory; two creates of one image at once are a caller's bug.
  const temporary = temporaryImageOf(image);
  await rm(temporary, { force: true });
  try {
    const file = await open(temporary, 'wx', 0o600);
    try {
      // ftruncate only sets the length: the image stays sparse and takes disk space as it fills.
      await file.truncate(bytes);
    } finally {
      await file.close();
    }
    // -m 0: no blocks reserved for root (containers write as root, so a reserve would only make
    // the limit fuzzy). -i 4096: one inode per 4 KiB, so many small files (node_modules, python
    // site-packages) run out of space, never of inodes, first. Discard is left on: on a sparse
    // regular file it punches holes, which also tells mke2fs that the inode tables read as zeros,
    // so neither mkfs nor the kernel's lazy-init thread has to write them out.
    await run('mkfs.ext4', ['-q', '-F', '-m', '0', '-i', '4096', '-L', 'ctl-sized', temporary]);
    // mke2fs fsyncs the image before it exits; the rename makes it visible whole or not at all.
    await rename(temporary, image);
    await syncDir(dirname(image));
  } catch (err) {
    await rm(temporary, { force: true });
    throw wrap(err, `create sized directory ${target} (${formatSize(bytes)} image ${image})`);
  }
  try {
    await mountImage(target, image);
  } catch (err) {
    await rm(image, { force: true });
    throw err;
  }
}

/**
 * Unmounts dir when its image is mounted there, detaches the loop device if autoclear has not
 * done so, deletes the image (and the temporary image a crashed createSizedDir left) and removes
 * dir when it is empty. Succeeds when any of these is already gone; refuses (FailedPrecondition)
 * to unmount a mount at dir that is not backed by imagePath.
 */
export async function removeSizedDir(dir: string, imagePath: string): Promise<void> {
  const image = await resolveFile(imagePath).catch(() => resolve(imagePath));
  const target = await realpath(dir).catch(() => undefined);

  // Drivers call this on every remove, limited or not, so the common case (no mount, no image)
  // costs a few stats and never reads the mount table or the loop devices.
  if (target && (await isMountPoint(target))) {
    for (;;) {
      const mounts = await mountsAt(target);
      const top = mounts[mounts.length - 1];
      if (!top) break;
      const backing = await loopBackingFile(top.source);
      if (backing !== image) {
        throw failedPrecondition(
          `remove sized directory ${target}: it is mounted from ${top.source}${backing ? ` (${backing})` : ''}, not from ${image}; left alone`,
        );
      }
      await run('umount', [target], ErrorKind.FailedPrecondition);
    }
  }

  if (await statOrUndefined(image)) {
    await detachLoops(image);
    await rm(image, { force: true });
  }
  await rm(temporaryImageOf(image), { force: true });
  if (target) {
    // Only an empty mount point is removed: dir may be the caller's, with its own content.
    await rmdir(target).catch(() => undefined);
  }
}

/**
 * Mounts an existing image on dir again, e.g. after a reboot, when the image is there but no
 * longer mounted. A no-op when it is mounted already; NotFound when the image is missing.
 */
export async function remountSizedDir(dir: string, imagePath: string): Promise<void> {
  const image = await resolveFile(imagePath).catch(() => resolve(imagePath));
  if (!(await statOrUndefined(image))?.isFile()) throw notFound(`remount sized directory ${dir}: image ${image} not found`);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await mountImage(await realpath(dir), image);
}

/** Where dir's image is mounted from, or undefined when dir is not a mount of imagePath. */
export async function sizedDirMount(dir: string, imagePath: string): Promise<SizedDirInfo | undefined> {
  const target = await realpath(dir).catch(() => undefined);
  if (!target) return undefined;
  const image = await resolveFile(imagePath).catch(() => resolve(imagePath));
  const mounts = await mountsAt(target);
  const top = mounts[mounts.length - 1];
  if (top && (await loopBackingFile(top.source)) === image) return { image, device: top.source };
  return undefined;
}

async function mountImage(target: string, image: string): Promise<void> {
  const mounts = await mountsAt(target);
  const top = mounts[mounts.length - 1];
  if (top && (await loopBackingFile(top.source)) === image) return;
  // Mounting on top would hide what is mounted there now, and a later remove would refuse it.
  if (top) throw failedPrecondition(`mount ${image} on ${target}: ${target} is already a mount of ${top.source} (${top.fsType})`);

  // Two loop devices on one ext4 image, each mounted, would corrupt it: refuse instead.
  const devices = await loopDevicesOf(image);
  const elsewhere = (await mountTable()).find((m) => devices.includes(m.source));
  if (elsewhere) throw failedPrecondition(`mount ${image} on ${target}: the image is already mounted on ${elsewhere.mountPoint}`);

  // mount -o loop sets up a loop device with autoclear, so the umount frees it again. discard:
  // deleting files inside punches holes in the image, so the host gets the space back.
  const args = ['-t', 'ext4', '-o', 'loop,discard', image, target];
  for (let attempt = 1; ; attempt++) {
    try {
      await run('mount', args);
      return;
    } catch (err) {
      // Loop device allocation races with other processes setting up loop devices at the same
      // moment (losetup -f finds a free one, another takes it first); a retry gets another one.
      const stderr = (err as { stderr?: string }).stderr ?? '';
      if (attempt >= 4 || !/failed to setup loop device|Device or resource busy/i.test(stderr)) throw err;
      await new Promise((done) => setTimeout(done, 50 * attempt));
    }
  }
}

/** Detaches loop devices still bound to image once nothing mounts them (autoclear may lag). */
async function detachLoops(image: string): Promise<void> {
  // Generous: the kernel clears an autoclear device from a work queue after the last close, which
  // lags by seconds under load; losetup -d meanwhile fails.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const devices = await loopDevicesOf(image);
    if (devices.length === 0) return;
    const table = await mountTable();
    const mounted = table.find((m) => devices.includes(m.source));
    if (mounted) throw failedPrecondition(`remove sized directory image ${image}: still mounted on ${mounted.mountPoint}`);
    if (Date.now() > deadline) {
      for (const device of devices) await run('losetup', ['-d', device]).catch(() => undefined);
      if ((await loopDevicesOf(image)).length > 0)
        throw failedPrecondition(`remove sized directory image ${image}: loop device ${devices.join(', ')} stays attached`);
      return;
    }
    await new Promise((done) => setTimeout(done, 20));
  }
}

/** Where createSizedDir formats an image before renaming it into place. */
export function temporaryImageOf(image: string): string {
  return `${image}.tmp`;
}

/** A mount on dir shows as a device different from its parent directory's. */
async function isMountPoint(dir: string): Promise<boolean> {
  const [self, parent] = await Promise.all([stat(dir), stat(dirname(dir))]);
  return self.dev !== parent.dev || self.ino === parent.ino;
}

/** An absolute path with its directory's symlinks resolved, as the kernel reports loop backing files. */
async function resolveFile(path: string): Promise<string> {
  const absolute = resolve(path);
  return join(await realpath(dirname(absolute)), basename(absolute));
}

async function statOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
