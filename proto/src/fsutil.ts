import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { invalidArgument } from './errors';

let temporaries = 0;

/**
 * Replaces file with data so that a crash or power loss at any moment leaves either the old
 * content or the new one whole, never a half: the data goes to a temporary name in the same
 * directory and is fsynced, renamed over file (atomic within one file system), and the directory
 * is fsynced so the rename itself is durable. Concurrent writers of one file: the last rename
 * wins; no reader sees a mix. The temporary is removed when any step fails.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600): void {
  const tmp = `${file}.tmp-${process.pid}-${temporaries++}`;
  try {
    const fd = openSync(tmp, 'w', mode);
    try {
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      for (let off = 0; off < bytes.length;) off += writeSync(fd, bytes, off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  syncDir(dirname(file));
}

/** writeFileAtomic of value as JSON (indented when asked, for files people read). */
export function writeJsonAtomic(file: string, value: unknown, options: { mode?: number; indent?: number } = {}): void {
  writeFileAtomic(file, JSON.stringify(value, null, options.indent), options.mode);
}

/** fsync of a directory: makes the names created, renamed or removed in it durable. */
export function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * mkdir -p with errors that name the path. Node's own recursive mkdirSync loops forever on
 * paths under /proc (mkdir there fails with ENOENT although the parent exists), so parents are
 * made one at a time here and an ENOENT on an existing parent is reported, not retried.
 */
export function ensureDir(path: string, mode = 0o711): void {
  try {
    mkdirSync(path, { mode });
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if (!statSync(path).isDirectory()) throw invalidArgument(`cannot create directory ${path}: a file is in the way`);
      return;
    }
    if (code !== 'ENOENT' || dirname(path) === path || existsDir(dirname(path))) {
      throw invalidArgument(`cannot create directory ${path}: ${(err as Error).message.replace(/^[A-Z]+: /, '')}`);
    }
  }
  ensureDir(dirname(path), mode);
  ensureDir(path, mode);
}

function existsDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
