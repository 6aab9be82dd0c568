import { statfs } from 'node:fs/promises';

const NSFS_MAGIC = 0x6e736673;

/** Whether a path is a live network namespace (a bind mount of one, or /proc/<pid>/ns/net), not a leftover file. */
export async function isNetns(path: string): Promise<boolean> {
  try {
    return (await statfs(path)).type === NSFS_MAGIC;
  } catch {
    return false;
  }
}
