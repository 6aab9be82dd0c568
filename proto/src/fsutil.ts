import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { invalidArgument } from './errors';

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
