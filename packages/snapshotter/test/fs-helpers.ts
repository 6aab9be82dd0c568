/** File-system helpers the root tests share. */
import { mountTableSync } from '@ctl/runtime-native/mount';
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { constants } from 'node:os';

export const MiB = 1024 * 1024;

/** How many mounts sit on exactly this path. */
export function mountCount(path: string): number {
  return mountTableSync().filter((m) => m.mountPoint === path).length;
}

export function mountedAt(path: string): boolean {
  return mountCount(path) > 0;
}

/** Writes 1 MiB chunks until `limit` bytes or the first error; returns what it wrote and the error code. */
export function fill(file: string, limit: number): { written: number; code?: string } {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(MiB, 0xa5);
  let written = 0;
  try {
    while (written < limit) written += writeSync(fd, chunk);
    fsyncSync(fd);
    return { written };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    // libuv has no name for EDQUOT and reports it as UNKNOWN; the errno still says which it is.
    return { written, code: e.errno === -constants.errno.EDQUOT ? 'EDQUOT' : e.code };
  } finally {
    closeSync(fd);
  }
}
