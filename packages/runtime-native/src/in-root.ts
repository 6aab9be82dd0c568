/**
 * Paths inside a root directory (a container's or an image's rootfs, an extracted build context), their
 * symbolic links resolved as if the root were "/": a link may lead anywhere inside the root but
 * never out of it, so nothing an image or a context holds makes the daemon read or write a host
 * path (a rootfs's `/etc -> /host/etc` means `<root>/host/etc`).
 *
 * The trees walked here have no other writer meanwhile (a snapshot mounted for one build step, a
 * context extracted into a private directory, a container's rootfs before it starts): the checks
 * are lstat-based, not openat-based, and would not hold against a concurrent writer.
 *
 * The walks are synchronous calls (a few per component, see slices.ts for why); the *Sync forms
 * are for callers that already work synchronously (tar extraction), the others for the rest.
 */
import { EngineError, ErrorKind, failedPrecondition, invalidArgument } from '@ctl/proto/errors';
import { type Stats, chmodSync, lchownSync, lstatSync, mkdirSync, readlinkSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { join, posix } from 'node:path';

const MAX_LINKS = 40;

/**
 * What a path that climbs above the root does: clamp stays at the root, as in a chroot (`..` of
 * "/" is "/", an absolute link starts again at the root); refuse fails with OutsideRoot (a build
 * context, whose paths must not point at the client's other files).
 */
export type Climb = 'clamp' | 'refuse';

/** A path that leads out of its root (Climb refuse); callers name what it was. */
export class OutsideRoot extends EngineError {
  constructor(readonly path: string) {
    super(ErrorKind.InvalidArgument, `${path} leads outside its root`);
    this.name = 'OutsideRoot';
  }
}

export interface ResolveOptions {
  /** follow a link at the last component too (default true; false: the link itself) */
  followLast?: boolean;
  /** default clamp */
  climb?: Climb;
}

/** Owner and mode of the directories mkdirInRoot makes. */
export interface MadeDirectory {
  uid: number;
  gid: number;
  mode: number;
}

/**
 * path (absolute, or relative to the root: the same) resolved inside root, as an absolute path
 * in the root ("/" for the root itself). Missing components are taken as they are written.
 */
export async function resolvePathInRoot(root: string, path: string, options: ResolveOptions = {}): Promise<string> {
  return '/' + walk(root, path, options.followLast ?? true, options.climb ?? 'clamp').join('/');
}

/** The host path of resolvePathInRoot. */
export async function resolveInRoot(root: string, path: string, options: ResolveOptions = {}): Promise<string> {
  return resolveInRootSync(root, path, options);
}

export function resolveInRootSync(root: string, path: string, options: ResolveOptions = {}): string {
  return join(root, ...walk(root, path, options.followLast ?? true, options.climb ?? 'clamp'));
}

/**
 * mkdir -p of path inside root, links followed inside it: each missing directory is made with
 * made's owner and mode (an existing one is left as it is). Returns the host path of the last.
 * FailedPrecondition when something on the way exists and is not a directory.
 */
export async function mkdirInRoot(root: string, path: string, made: MadeDirectory): Promise<string> {
  return mkdirInRootSync(root, path, made);
}

export function mkdirInRootSync(root: string, path: string, made: MadeDirectory): string {
  const at = join(root, ...walk(root, path, true, 'clamp', made));
  const st = lstatSync(at);
  if (!st.isDirectory()) throw failedPrecondition(`${path}: ${inRoot(root, at)} exists and is not a directory`);
  return at;
}

/** A host path under root as the image sees it ("/etc/passwd"), for messages. */
export const inRoot = (root: string, hostPath: string): string => posix.join('/', hostPath.slice(root.length));

const isAbsence = (err: unknown): boolean => ['ENOENT', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '');

/** lstat, or undefined when nothing is there (a missing component, or one that is no directory). */
export function lstatIfAny(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if (isAbsence(err)) return undefined;
    throw err;
  }
}

/** lstatIfAny without holding the event loop. */
export async function lstatIfAnyAsync(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    if (isAbsence(err)) return undefined;
    throw err;
  }
}

/** The components under root that path leads to; with make, missing directories are made on the way. */
function walk(root: string, path: string, followLast: boolean, climb: Climb, make?: MadeDirectory): string[] {
  const todo = path.split('/').filter(Boolean);
  let done: string[] = [];
  for (let links = 0; todo.length;) {
    const part = todo.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      if (done.length) done.pop();
      else if (climb === 'refuse') throw new OutsideRoot(path);
      continue;
    }
    const here = join(root, ...done, part);
    const st = lstatIfAny(here);
    if (st?.isSymbolicLink() && (todo.length > 0 || followLast)) {
      if (++links > MAX_LINKS) throw invalidArgument(`${path}: too many levels of symbolic links`);
      const target = readlinkSync(here);
      if (target.startsWith('/')) {
        if (climb === 'refuse') throw new OutsideRoot(path);
        done = [];
      }
      todo.unshift(...target.split('/').filter(Boolean));
      continue;
    }
    if (make) {
      if (!st) makeDirectory(here, make);
      else if (!st.isDirectory()) throw failedPrecondition(`${path}: ${inRoot(root, here)} exists and is not a directory`);
    }
    done.push(part);
  }
  return done;
}

function makeDirectory(path: string, made: MadeDirectory): void {
  mkdirSync(path, { mode: 0o700 });
  lchownSync(path, made.uid, made.gid);
  // After the chown, which clears set-id bits; and past the umask.
  chmodSync(path, made.mode);
}
