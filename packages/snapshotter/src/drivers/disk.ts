/** File-system helpers the drivers share. */
import { EngineError, ErrorKind } from '@ctl/proto/errors';
import { mkdirSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { launch } from '@ctl/runtime-native/launch';
import type { Usage } from '../snapshotter';

/**
 * Runs a tool (through runtime-native's launcher: no fork of this process); a failure becomes
 * an error naming the command and what it printed.
 */
export async function tool(command: string, args: string[], options: { cwd?: string } = {}): Promise<string> {
  let r;
  try {
    r = await launch(command, args, { cwd: options.cwd });
  } catch (err) {
    throw new EngineError(ErrorKind.Unknown, `${command} ${args.join(' ')}: ${(err as Error).message}`, { cause: err });
  }
  if (r.code !== 0) throw new EngineError(ErrorKind.Unknown, `${command} ${args.join(' ')}: ${(r.stderr || `exit code ${r.code}`).trim()}`);
  return r.stdout;
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
