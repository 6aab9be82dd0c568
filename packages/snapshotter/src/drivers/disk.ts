/** File-system helpers the drivers share. */
import { mkdirSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { runTool } from '@ctl/runtime-native/launch';
import type { Usage } from '../snapshotter';

/**
 * Real disk use of a tree: allocated bytes and inodes, hard links counted once (du does both
 * in C, far faster than a walk in JavaScript on large layers).
 */
export async function diskUsage(dir: string): Promise<Usage> {
  const [bytes, inodes] = await Promise.all([runTool('du', ['-s', '-x', '-B1', dir]), runTool('du', ['-s', '-x', '--inodes', dir])]);
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
