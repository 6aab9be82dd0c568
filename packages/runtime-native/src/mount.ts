/**
 * Mount handling every service shares, as containerd's mount package: the Mount type (containerd.types.Mount's
 * shape), mounting and unmounting a list on one target, temporary mounts, the mount table, and the wire form.
 *
 * A light module (node built-ins, @ctl/proto/errors and fsutil, ./launch when a mount is made): mounts
 * are made and undone by ctl-mount (src/native/mount_tool.c: mount(2) and umount2(2)), which
 * ctl-launch runs in its own process, so a mount costs neither a fork of the calling service nor
 * an exec. Without the native build, mount(8) and umount(8) do it.
 */
import { EngineError, ErrorKind, invalidArgument } from '@ctl/proto/errors';
import { ensureDir } from '@ctl/proto/fsutil';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { kindFromNativeExit } from './errors';
import type * as Launch from './launch';

// The launcher (child_process) and fs/promises are loaded when a mount is made: the clients that
// only convert mounts to and from the wire (the CLI's) do not pay for them at start.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const launchModule = (): typeof Launch => require('./launch') as typeof Launch;
const runTool: typeof Launch.runTool = (...args) => launchModule().runTool(...args);
// eslint-disable-next-line @typescript-eslint/no-require-imports
const fsp = (): typeof import('node:fs/promises') => require('node:fs/promises') as typeof import('node:fs/promises');

/** One mount, in containerd.types.Mount's shape; applied in order, a list makes one view (a snapshot's, say). */
export interface Mount {
  type: string;
  source: string;
  target?: string;
  options: string[];
}

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

export const MOUNT_BINARY = join(__dirname, '..', '..', 'build', 'Release', 'ctl-mount');

let mountBinaryBuilt: boolean | undefined;
const haveMountBinary = (): boolean => (mountBinaryBuilt ??= existsSync(MOUNT_BINARY));

/** ctl-mount's verb; an EngineError of the kind its exit code reports, with its message. */
async function ctlMount(args: string[], cwd?: string): Promise<void> {
  let r;
  try {
    r = await launchModule().launch(MOUNT_BINARY, args, { cwd });
  } catch (err) {
    throw new EngineError(ErrorKind.Unknown, `ctl-mount ${args.join(' ')}: ${(err as Error).message}`, { cause: err });
  }
  if (r.code !== 0)
    throw new EngineError(kindFromNativeExit(r.code), (r.stderr || `ctl-mount ${args.join(' ')}: exit code ${r.code}`).trim());
}

/**
 * Mounts the list in order on target: bind mounts with their ro/rbind options; overlay mounts whose
 * options would pass the kernel's one-page limit (long lower chains, 200+ layers) are made from the
 * layers' common directory with relative paths.
 */
export async function mountAll(mounts: Mount[], target: string): Promise<void> {
  const native = haveMountBinary();
  for (const m of mounts) {
    if (m.type === 'bind' && native) {
      await ctlMount(['mount', 'bind', m.source, target, m.options.join(',')]);
      continue;
    }
    if (m.type === 'bind') {
      const bindFlag = m.options.includes('rbind') ? '--rbind' : '--bind';
      const rest = m.options.filter((o) => o !== 'rbind' && o !== 'bind');
      await runTool('mount', [bindFlag, ...(rest.length ? ['-o', rest.join(',')] : []), m.source, target]);
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
    if (native) {
      await ctlMount(['mount', m.type, m.source, target, options.join(',')], cwd);
      continue;
    }
    try {
      await runTool('mount', ['-t', m.type, ...(options.length ? ['-o', options.join(',')] : []), m.source, target], { cwd });
    } catch (err) {
      throw new EngineError(ErrorKind.Unknown, `mount ${m.type} on ${target}: ${(err as Error).message}`, { cause: err });
    }
  }
}

/**
 * Unmounts the topmost mount on target and whatever is mounted below it (rbind); target not mounted
 * is a FailedPrecondition, target missing a NotFound.
 */
export async function unmountAll(target: string): Promise<void> {
  if (haveMountBinary()) await ctlMount(['umount', target]);
  else await runTool('umount', ['--recursive', target]);
}

/**
 * The same view, read-only, as containerd's mount.WithReadonlyTempMount makes it. An overlay drops its
 * upperdir and workdir and shows the upper as its topmost lowerdir: an overlay without an upper is
 * read-only by itself, and a "ro" overlay that kept them would still claim the upper and work dirs
 * (the kernel refuses or warns when a running container's overlay uses them too). Any other type
 * (bind, a file system) gets "ro" in place of "rw".
 */
export function readonlyMounts(mounts: Mount[]): Mount[] {
  return mounts.map((m) => {
    if (m.type !== 'overlay') return { ...m, options: [...m.options.filter((o) => o !== 'rw' && o !== 'ro'), 'ro'] };
    const upper = m.options.find((o) => o.startsWith('upperdir='))?.slice('upperdir='.length);
    const options = m.options
      .filter((o) => !o.startsWith('upperdir=') && !o.startsWith('workdir='))
      .map((o) => (upper !== undefined && o.startsWith('lowerdir=') ? `lowerdir=${upper}:${o.slice('lowerdir='.length)}` : o));
    return { ...m, options };
  });
}

/**
 * Mounts the list on a new directory under tmpRoot for the time fn runs, then unmounts it and
 * removes the directory, whatever fn did. A mount that fails half way is undone before the error.
 */
export async function withTempMount<T>(mounts: Mount[], tmpRoot: string, fn: (dir: string) => Promise<T> | T): Promise<T> {
  ensureDir(tmpRoot);
  const dir = await fsp().mkdtemp(join(tmpRoot, 'mount-'));
  try {
    try {
      await mountAll(mounts, dir);
    } catch (err) {
      await unmountAll(dir).catch(() => undefined);
      throw err;
    }
    try {
      return await fn(dir);
    } finally {
      await unmountAll(dir).catch((err: unknown) => {
        throw new EngineError(ErrorKind.Internal, `unmount ${dir}: ${(err as Error).message}`, { cause: err });
      });
    }
  } finally {
    await fsp()
      .rmdir(dir)
      .catch(() => undefined);
  }
}

/** withTempMount of the list made read-only (see readonlyMounts). */
export function withReadonlyTempMount<T>(mounts: Mount[], tmpRoot: string, fn: (dir: string) => Promise<T> | T): Promise<T> {
  return withTempMount(readonlyMounts(mounts), tmpRoot, fn);
}

/** One line of /proc/self/mountinfo, the fields callers use. */
export interface MountInfo {
  mountPoint: string;
  fsType: string;
  source: string;
}

/** mountinfo escapes space, tab, newline and backslash as octal (\040 …). */
function unescapeOctal(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/**
 * The mounts in mountinfo text (proc(5)), in mount order: a later one covers an earlier one.
 * The optional fields between field 6 and the "-" vary in number, so the fields after it are found by it.
 */
export function parseMountInfo(text: string): MountInfo[] {
  const mounts: MountInfo[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const fields = line.split(' ');
    const dash = fields.indexOf('-', 6);
    if (dash < 0 || fields.length < dash + 3) continue;
    mounts.push({ mountPoint: unescapeOctal(fields[4]!), fsType: fields[dash + 1]!, source: unescapeOctal(fields[dash + 2]!) });
  }
  return mounts;
}

/** The mounts of this process's mount namespace. */
export async function mountTable(): Promise<MountInfo[]> {
  return parseMountInfo(await fsp().readFile('/proc/self/mountinfo', 'utf8'));
}

/** mountTable for callers that cannot wait (a check inside a synchronous decision). */
export function mountTableSync(): MountInfo[] {
  return parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8'));
}

/** containerd.types.Mount as the wire carries it: target always present, "" for none. */
export interface WireMount {
  type: string;
  source: string;
  target: string;
  options: string[];
}

export const mountToWire = (m: Mount): WireMount => ({ type: m.type, source: m.source, target: m.target ?? '', options: m.options });
export const mountFromWire = (m: WireMount): Mount => ({
  type: m.type,
  source: m.source,
  ...(m.target ? { target: m.target } : {}),
  options: m.options,
});
