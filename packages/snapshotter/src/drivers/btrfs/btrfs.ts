/**
 * The btrfs driver: every snapshot is a subvolume, every child a copy-on-write snapshot of its
 * parent's subvolume, as in containerd's plugins/snapshots/btrfs.
 *
 * Layout under the driver's root:
 *   active/<id>     ACTIVE (writable) and VIEW (read-only) snapshots
 *   snapshots/<id>  COMMITTED snapshots, read-only
 *   tmp/<id>        an active subvolume being made; renamed into active/ once it has its size
 *                   limit, so a crash never leaves an active snapshot without the limit it was
 *                   asked for
 *
 * Mounts are one bind mount of the subvolume's directory (rw,rbind or ro,rbind), not containerd's
 * `btrfs` mount with subvolid=: a bind mount needs neither the device nor the subvolume id, so
 * Driver.mounts stays synchronous, and it works the same inside any mount namespace that sees the
 * root.
 *
 * Size limits use btrfs qgroups: quotas are enabled on the file system the first time a limit is
 * asked for (quotas slow snapshot operations, so never before), and the limit is on the
 * subvolume's exclusive bytes, i.e. what the writable layer itself holds, not the parent's data
 * it shares: a 10 MiB limit on a container of a 1 GiB image still allows 10 MiB of writes.
 */
import { ErrorKind, failedPrecondition, invalidArgument, notFound } from '@ctl/proto/errors';
import { lstat, mkdir, readdir, rename, rm, statfs } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { run } from '../../quota/system';
import type { Mount, Usage } from '../../snapshotter';
import type { CreateOptions, Driver, DriverSnapshot } from '../driver';
import { SUBVOLUME_ROOT_INO, layerUsage } from './usage';

export const BTRFS_SUPER_MAGIC = 0x9123683e;

const FS_NAMES = new Map<number, string>([
  [0xef53, 'ext2/3/4'],
  [0x58465342, 'xfs'],
  [0x01021994, 'tmpfs'],
  [0x794c7630, 'overlayfs'],
  [0x6969, 'nfs'],
  [0x2fc12fc1, 'zfs'],
  [0xf2f52010, 'f2fs'],
]);

/** Runs the btrfs tool; its errors name the whole command and what btrfs printed. */
function btrfs(args: string[]): Promise<string> {
  return run('btrfs', args, ErrorKind.Internal);
}

/** Why the driver cannot keep snapshots in root on this host, or undefined when it can. */
export async function btrfsUnsupported(root: string): Promise<string | undefined> {
  // The file system first: a statfs, where the tool check is a process; on a host whose
  // root is not on btrfs (most) no process is spawned at every start.
  // The root may not exist yet; it will be made on the file system of its nearest ancestor.
  let path = root;
  for (;;) {
    try {
      const type = (await statfs(path)).type;
      if (type === BTRFS_SUPER_MAGIC) break;
      const where = path === root ? root : `${root} (made under ${path})`;
      return `${where} is on ${FS_NAMES.get(type) ?? `file system type 0x${type.toString(16)}`}, not btrfs`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(path) === path) throw err;
      path = dirname(path);
    }
  }
  try {
    await btrfs(['--version']);
  } catch (err) {
    return `the btrfs command (btrfs-progs) cannot run: ${(err as Error).message}`;
  }
  return undefined;
}

export async function openBtrfsDriver(root: string): Promise<BtrfsDriver> {
  const reason = await btrfsUnsupported(root);
  if (reason) throw failedPrecondition(`snapshotter btrfs: ${reason}`);
  for (const dir of ['active', 'snapshots', 'tmp']) await mkdir(join(root, dir), { recursive: true, mode: 0o711 });
  return new BtrfsDriver(root);
}

export class BtrfsDriver implements Driver {
  readonly name = 'btrfs';
  private quota?: Promise<void>;

  constructor(readonly root: string) {}

  async create(snapshot: DriverSnapshot, options: CreateOptions): Promise<void> {
    const id = checkId(snapshot.id);
    if (snapshot.kind === 'COMMITTED') throw invalidArgument(`btrfs create ${id}: a committed snapshot is made by commit, not create`);
    const view = snapshot.kind === 'VIEW';
    // A view is read-only, so a limit on it would limit nothing.
    const limit = view ? undefined : options.sizeLimit;
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit <= 0)) {
      throw invalidArgument(`btrfs create ${id}: size limit ${limit} is not a positive number of bytes`);
    }

    const target = this.activePath(id);
    const parent = snapshot.parents[0];
    const source = parent === undefined ? undefined : this.committedPath(checkId(parent));
    if (source !== undefined && !(await isSubvolume(source)) && !(await isSubvolume(target))) {
      throw notFound(`btrfs create ${id}: parent ${parent} has no committed subvolume ${source}`);
    }

    if (view) {
      // A read-only subvolume cannot be renamed (its ".." entry lives in its own, read-only
      // tree), so a view is made in place: a read-only snapshot appears whole in one step; an
      // empty view is made read-only right after, and again by a repeated create.
      if (!(await isSubvolume(target))) {
        if (source !== undefined) await btrfs(['subvolume', 'snapshot', '-r', source, target]);
        else await btrfs(['subvolume', 'create', target]);
      }
      if (source === undefined) await btrfs(['property', 'set', '-ts', target, 'ro', 'true']);
      return;
    }

    if (await isSubvolume(target)) {
      if (limit !== undefined) await this.limit(target, limit);
      return;
    }
    const temporary = join(this.root, 'tmp', id);
    await deleteSubvolume(temporary); // left by a create that crashed
    if (source !== undefined) await btrfs(['subvolume', 'snapshot', source, temporary]);
    else await btrfs(['subvolume', 'create', temporary]);
    try {
      if (limit !== undefined) await this.limit(temporary, limit);
      await rename(temporary, target);
    } catch (err) {
      await deleteSubvolume(temporary).catch(() => undefined);
      throw err;
    }
  }

  mounts(snapshot: DriverSnapshot): Mount[] {
    const id = checkId(snapshot.id);
    if (snapshot.kind === 'COMMITTED') throw failedPrecondition(`btrfs mounts ${id}: a committed snapshot has no mounts`);
    return [{ type: 'bind', source: this.activePath(id), options: [snapshot.kind === 'VIEW' ? 'ro' : 'rw', 'rbind'] }];
  }

  async commit(snapshot: DriverSnapshot): Promise<void> {
    const id = checkId(snapshot.id);
    if (snapshot.kind === 'VIEW') throw failedPrecondition(`btrfs commit ${id}: a view cannot be committed`);
    const active = this.activePath(id);
    const committed = this.committedPath(id);
    if (await isSubvolume(active)) {
      // While the active subvolume exists it is the truth: a committed one next to it is left by
      // a commit that crashed before deleting the active one, and may miss later writes.
      await deleteSubvolume(committed);
      await btrfs(['subvolume', 'snapshot', '-r', active, committed]);
      // The active subvolume's qgroup (and its size limit) goes with it: the kernel drops a
      // subvolume's qgroup once the cleaner has freed the subvolume. The committed one has none.
      await deleteSubvolume(active);
      return;
    }
    if (await isSubvolume(committed)) return; // committed before
    throw notFound(`btrfs commit ${id}: no active subvolume ${active}`);
  }

  async remove(id: string): Promise<void> {
    checkId(id);
    for (const path of [join(this.root, 'tmp', id), this.activePath(id), this.committedPath(id)]) await deleteSubvolume(path);
  }

  async usage(snapshot: DriverSnapshot): Promise<Usage> {
    const id = checkId(snapshot.id);
    const path = snapshot.kind === 'COMMITTED' ? this.committedPath(id) : this.activePath(id);
    if (!(await isSubvolume(path))) throw notFound(`btrfs usage ${id}: no subvolume ${path}`);
    const parent = snapshot.parents[0];
    const parentPath = parent === undefined ? undefined : this.committedPath(checkId(parent));
    return layerUsage(path, parentPath && (await isSubvolume(parentPath)) ? parentPath : undefined);
  }

  async onDisk(): Promise<string[]> {
    const ids = new Set<string>();
    for (const dir of ['tmp', 'active', 'snapshots']) {
      for (const name of await readdir(join(this.root, dir)).catch(() => [] as string[])) ids.add(name);
    }
    return [...ids].sort();
  }

  private activePath(id: string): string {
    return join(this.root, 'active', id);
  }

  private committedPath(id: string): string {
    return join(this.root, 'snapshots', id);
  }

  private async limit(path: string, bytes: number): Promise<void> {
    await this.enableQuota();
    await btrfs(['qgroup', 'limit', '-e', String(bytes), path]);
  }

  private enableQuota(): Promise<void> {
    this.quota ??= (async () => {
      try {
        await btrfs(['qgroup', 'show', this.root]);
        return; // already on
      } catch (err) {
        if (!/quotas? not enabled|ENOTCONN|Transport endpoint is not connected/i.test((err as Error).message)) throw err;
      }
      await btrfs(['quota', 'enable', this.root]);
      // Enabling quotas on a file system that holds data starts a rescan; until it ends the
      // exclusive counts that a limit checks against are wrong, so wait for it.
      await btrfs(['quota', 'rescan', '-w', this.root]);
    })().catch((err) => {
      this.quota = undefined;
      throw err;
    });
    return this.quota;
  }
}

/** Ids become path names: anything that could leave the driver's directories is refused. */
function checkId(id: string): string {
  if (!/^[A-Za-z0-9_.-]{1,255}$/.test(id) || id === '.' || id === '..')
    throw invalidArgument(`btrfs: invalid snapshot id ${JSON.stringify(id)}`);
  return id;
}

async function isSubvolume(path: string): Promise<boolean> {
  try {
    const stats = await lstat(path, { bigint: true });
    return stats.isDirectory() && stats.ino === SUBVOLUME_ROOT_INO;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/**
 * Deletes the subvolume at path, and first any subvolume nested in it (a container may create
 * its own; `btrfs subvolume delete` refuses a subvolume that still holds one). Succeeds when
 * path is gone; a plain directory or file left there is removed as such.
 */
async function deleteSubvolume(path: string): Promise<void> {
  let stats;
  try {
    stats = await lstat(path, { bigint: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!stats.isDirectory() || stats.ino !== SUBVOLUME_ROOT_INO) {
    await rm(path, { recursive: true, force: true });
    return;
  }
  try {
    await btrfs(['subvolume', 'delete', path]);
  } catch (err) {
    const message = (err as Error).message;
    if (/No such file or directory/.test(message) && !(await isSubvolume(path))) return;
    if (!/Directory not empty/.test(message)) throw err;
    for (const nested of await nestedSubvolumes(path)) await deleteSubvolume(nested);
    await btrfs(['subvolume', 'delete', path]);
  }
}

/** Subvolumes directly nested in the subvolume at path (not those nested in them). */
async function nestedSubvolumes(path: string): Promise<string[]> {
  const found: string[] = [];
  const top = await lstat(path, { bigint: true });
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const child = join(dir, entry.name);
      const stats = await lstat(child, { bigint: true });
      if (stats.ino === SUBVOLUME_ROOT_INO && stats.dev !== top.dev) found.push(child);
      else if (stats.dev === top.dev) await walk(child);
    }
  };
  await walk(path);
  return found;
}
