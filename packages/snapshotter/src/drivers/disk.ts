/** File-system helpers the drivers share. */
import { EngineError, ErrorKind } from '@ctl/proto/errors';
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { Usage } from '../snapshotter';

const run = promisify(execFile);

/** Runs a tool; a failure becomes an error naming the command and what it printed. */
export async function tool(command: string, args: string[], options: { cwd?: string } = {}): Promise<string> {
  try {
    const { stdout } = await run(command, args, { cwd: options.cwd, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new EngineError(ErrorKind.Unknown, `${command} ${args.join(' ')}: ${(e.stderr || e.message).trim()}`, { cause: err });
  }
}

/**
 * Real disk use of a tree: allocated bytes and inodes, hard links counted once (du does both
 * in C, far faster than a walk in JavaScript on large layers).
 */
export async function diskUsage(dir: string): Promise<Usage> {
  const [bytes, inodes] = await Promise.all([tool('du', ['-s', '-x', '-B1', dir]), tool('du', ['-s', '-x', '--inodes', dir])]);
  return { size: Number.parseInt(bytes, 10), inodes: Number.parseInt(inodes, 10) };
}

/**
 * Makes directories synchronously: a mkdir takes microseconds, less than the thread-pool round
 * trip of its promise form, and Prepare makes several.
 */
export function makeDirs(...paths: string[]): void {
  for (const p of paths) mkdirSync(p, { recursive: true, mode: 0o755 });
}

/** Entries of a directory, none when it does not exist. */
export async function entries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}
