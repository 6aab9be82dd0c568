/**
 * Mounting what a snapshotter returns, as containerd's mount package does: mounts in order on
 * one target; bind mounts with their ro/rbind options; overlay mounts whose options would pass
 * the kernel's one-page limit (long lower chains, 200+ layers) are made from the layers'
 * common directory with relative paths.
 */
import { EngineError, ErrorKind, invalidArgument } from '@ctl/proto/errors';
import { dirname, relative, sep } from 'node:path';
import { tool } from './drivers/disk';
import type { Mount } from './snapshotter';

const PAGE_SIZE = 4096;
const DIR_OPTIONS = ['lowerdir=', 'upperdir=', 'workdir='];

function commonDir(paths: string[]): string {
  let common = dirname(paths[0]!);
  while (!paths.every((p) => p === common || p.startsWith(common.endsWith(sep) ? common : common + sep))) common = dirname(common);
  return common;
}

/** Overlay options with paths relative to their common directory, and that directory. */
export function compactOverlayOptions(options: string[]): { cwd: string; options: string[] } | undefined {
  const paths = options.flatMap((o) => {
    const prefix = DIR_OPTIONS.find((p) => o.startsWith(p));
    return prefix ? o.slice(prefix.length).split(':') : [];
  });
  if (paths.length === 0) return undefined;
  const cwd = commonDir(paths);
  return {
    cwd,
    options: options.map((o) => {
      const prefix = DIR_OPTIONS.find((p) => o.startsWith(p));
      return prefix
        ? prefix +
            o
              .slice(prefix.length)
              .split(':')
              .map((p) => relative(cwd, p))
              .join(':')
        : o;
    }),
  };
}

export async function mountAll(mounts: Mount[], target: string): Promise<void> {
  for (const m of mounts) {
    if (m.type === 'bind') {
      const bindFlag = m.options.includes('rbind') ? '--rbind' : '--bind';
      const rest = m.options.filter((o) => o !== 'rbind' && o !== 'bind');
      await tool('mount', [bindFlag, ...(rest.length ? ['-o', rest.join(',')] : []), m.source, target]);
      continue;
    }
    let options = m.options;
    let cwd: string | undefined;
    if (m.type === 'overlay' && options.join(',').length >= PAGE_SIZE) {
      const compact = compactOverlayOptions(options);
      if (compact) ({ options, cwd } = compact);
      if (options.join(',').length >= PAGE_SIZE) {
        throw invalidArgument(
          `mount overlay on ${target}: options of ${options.join(',').length} bytes exceed one page even with relative paths`,
        );
      }
    }
    try {
      await tool('mount', ['-t', m.type, ...(options.length ? ['-o', options.join(',')] : []), m.source, target], { cwd });
    } catch (err) {
      throw new EngineError(ErrorKind.Unknown, `mount ${m.type} on ${target}: ${(err as Error).message}`, { cause: err });
    }
  }
}

/** Unmounts target and whatever is mounted below it (rbind). */
export async function unmountAll(target: string): Promise<void> {
  await tool('umount', ['--recursive', target]);
}
