/**
 * Disk use of one btrfs snapshot's own layer: the inodes and allocated bytes of what it does not
 * share with its parent.
 *
 * A btrfs snapshot starts as a copy of its parent's tree with the same inode numbers, sharing
 * every extent. An inode that still has the parent's inode number and the parent's exact ctime
 * (nanoseconds; nobody can set ctime, any change to data or metadata moves it) is untouched, so
 * it is the parent's and not counted; everything else (new, replaced or changed inodes) is the
 * layer's own and counted whole, as overlayfs counts a copied-up file whole.
 *
 * Why not qgroup "exclusive" bytes: they say what deleting the subvolume would free, which for a
 * committed layer drops to nearly nothing as soon as a child snapshot shares its extents; and
 * they exist only with quotas on, which slow every snapshot operation. The walk gives the same
 * answer for a layer before and after commit and with or without children.
 */
import { type BigIntStats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Usage } from '../../snapshotter';

/** Inode number of every btrfs subvolume's top directory (BTRFS_FIRST_FREE_OBJECTID). */
export const SUBVOLUME_ROOT_INO = 256n;

const BATCH = 64;
const S_IFMT = 0o170000n;

export async function layerUsage(dir: string, parentDir?: string): Promise<Usage> {
  const seen = new Set<string>();
  let size = 0;
  let inodes = 0;
  const top = await lstat(dir, { bigint: true });

  const visit = async (relative: string, stats: BigIntStats): Promise<void> => {
    const key = `${stats.dev}:${stats.ino}`;
    if (!seen.has(key)) {
      seen.add(key); // hard links count once
      if (parentDir === undefined || !(await sameInode(join(parentDir, relative), stats))) {
        inodes++;
        size += Number(stats.blocks) * 512;
      }
    }
    if (!stats.isDirectory()) return;
    const names = (await readdir(join(dir, relative)).catch(ignoreVanished)) ?? [];
    for (let i = 0; i < names.length; i += BATCH) {
      await Promise.all(
        names.slice(i, i + BATCH).map(async (name) => {
          const child = join(relative, name);
          const childStats = await lstat(join(dir, child), { bigint: true }).catch(ignoreVanished);
          if (!childStats) return;
          // A nested subvolume is part of this layer (its own st_dev, inode 256); any other
          // device is a mount on top of the layer, not the layer.
          if (childStats.dev !== stats.dev && !(childStats.isDirectory() && childStats.ino === SUBVOLUME_ROOT_INO)) return;
          await visit(child, childStats);
        }),
      );
    }
  };
  await visit('', top);
  return { size, inodes };
}

async function sameInode(parentPath: string, stats: BigIntStats): Promise<boolean> {
  const parent = await lstat(parentPath, { bigint: true }).catch(ignoreVanished);
  return (
    parent !== undefined && parent.ino === stats.ino && parent.ctimeNs === stats.ctimeNs && (parent.mode & S_IFMT) === (stats.mode & S_IFMT)
  );
}

/** A file removed while the walk runs (a container still writing) is simply not counted. */
function ignoreVanished(err: unknown): undefined {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
  throw err;
}
