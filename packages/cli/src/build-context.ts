/**
 * The build context as `ctl build` sends it: the directory walked with .dockerignore's rules and
 * streamed as a tar of only what is let through. Ignored files are never opened, and an ignored
 * directory is not even listed unless an exception may match below it. The tar comes in pieces
 * of a quarter megabyte at the reader's pace, a large file in several, never whole.
 *
 * The walk and the reads are synchronous calls: the command does nothing else meanwhile, and a
 * context is mostly many small files, for which each asynchronous call's trip through the thread
 * pool cost more than the call (on a loaded host, many times more).
 *
 * Extended attributes go with each entry (pax `SCHILY.xattr.*` records), read through
 * @ctl/runtime-native/xattr, whose addon is loaded by the first walk, not by the CLI's start;
 * all that the caller may read, but overlayfs's own (`trusted.overlay.*`) and the host's
 * SELinux label (`security.selinux`), which mean nothing in an image.
 */
import type { Stats } from 'node:fs';
import { closeSync, lstatSync, openSync, readSync, readdirSync, readlinkSync } from 'node:fs';
import { type Dockerignore, cleanPath } from './dockerignore';
import { TAR_END, type TarEntryHeader, padding, tarHeader } from './tar-writer';

export interface ContextEntry {
  /** relative to the context root, `/`-separated */
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'link';
  stats: Stats;
  /** a symlink's target, or for a hard link the path of the entry it repeats */
  linkname?: string;
  /** extended attributes, when it has any */
  xattrs?: Map<string, Buffer>;
}

export interface WalkOptions {
  ignore: Dockerignore;
  /** paths (relative) sent even when .dockerignore leaves them out: the Dockerfile and .dockerignore, as docker does */
  always?: string[];
  /** a file that a tar cannot carry or the daemon would refuse (socket, fifo, device), left out */
  onSkip?: (path: string, why: string) => void;
  /** each directory listed, for tests that ask what was walked */
  onList?: (path: string) => void;
}

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function xattrCalls(): typeof import('@ctl/runtime-native/xattr') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('@ctl/runtime-native/xattr') as typeof import('@ctl/runtime-native/xattr');
}

const HOST_ONLY_XATTR = /^(trusted\.overlay\.|security\.selinux$)/;

/** A path's extended attributes worth sending, or undefined for none (most files). */
function xattrsOf(path: string): Map<string, Buffer> | undefined {
  const { listXattrs, getXattr } = xattrCalls();
  const names = listXattrs(path).filter((n) => !HOST_ONLY_XATTR.test(n));
  if (!names.length) return undefined;
  const out = new Map<string, Buffer>();
  for (const name of names.sort(byName)) {
    const value = getXattr(path, name);
    if (value) out.set(name, value);
  }
  return out.size ? out : undefined;
}

/** The entry with its extended attributes, if any. */
function withXattrs(entry: ContextEntry, absolute: string): ContextEntry {
  const xattrs = xattrsOf(absolute);
  return xattrs ? { ...entry, xattrs } : entry;
}

/**
 * The entries of the context in tar order (a directory before what is in it, names sorted). A
 * directory left out but walked for an exception is sent only when something below it is, so
 * its mode reaches the daemon. A file with several links inside the context is sent once; the
 * others are hard links to it.
 */
export async function* walkContext(root: string, options: WalkOptions): AsyncGenerator<ContextEntry> {
  yield* contextEntries(root, options);
}

/** walkContext's entries, one at a time as they are asked for (synchronous calls: see above). */
function* contextEntries(root: string, options: WalkOptions): Generator<ContextEntry> {
  const { ignore } = options;
  const always = new Set((options.always ?? []).map(cleanPath));
  const alwaysBelow = (dir: string): boolean => [...always].some((p) => p.startsWith(`${dir}/`));
  const linked = new Map<string, string>();
  /** directories left out whose entry is still owed if something below them is sent */
  const owed: { path: string; stats: Stats; absolute: string }[] = [];

  function* walk(dir: string, rel: string): Generator<ContextEntry> {
    options.onList?.(rel);
    const names = readdirSync(dir).sort(byName);
    for (const name of names) {
      const path = rel ? `${rel}/${name}` : name;
      const absolute = `${dir}/${name}`;
      const excluded = ignore.excludes(path) && !always.has(path);
      const stats = lstatSync(absolute);
      if (stats.isDirectory()) {
        if (!excluded) {
          yield* payOwed();
          yield withXattrs({ path, type: 'directory', stats }, absolute);
          yield* walk(absolute, path);
        } else if (ignore.mayIncludeBelow(path) || alwaysBelow(path)) {
          owed.push({ path, stats, absolute });
          yield* walk(absolute, path);
          if (owed.at(-1)?.path === path) owed.pop();
        }
        continue;
      }
      if (excluded) continue;
      if (stats.isSymbolicLink()) {
        yield* payOwed();
        yield withXattrs({ path, type: 'symlink', stats, linkname: readlinkSync(absolute) }, absolute);
      } else if (stats.isFile()) {
        yield* payOwed();
        const key = `${stats.dev}:${stats.ino}`;
        const first = stats.nlink > 1 ? linked.get(key) : undefined;
        if (first !== undefined) yield { path, type: 'link', stats, linkname: first };
        else {
          if (stats.nlink > 1) linked.set(key, path);
          yield withXattrs({ path, type: 'file', stats }, absolute);
        }
      } else if (!stats.isSocket()) {
        options.onSkip?.(path, stats.isFIFO() ? 'a named pipe' : 'a device node');
      }
    }
  }

  function* payOwed(): Generator<ContextEntry> {
    if (!owed.length) return;
    for (const d of owed.splice(0)) yield withXattrs({ path: d.path, type: 'directory', stats: d.stats }, d.absolute);
  }

  yield* walk(root.replace(/\/+$/, '') || '/', '');
}

function headerOf(entry: ContextEntry): TarEntryHeader {
  const { stats } = entry;
  return {
    // Directories end in "/", as tar writes them.
    name: entry.type === 'directory' ? `${entry.path}/` : entry.path,
    type: entry.type,
    mode: stats.mode & 0o7777,
    uid: stats.uid,
    gid: stats.gid,
    mtime: stats.mtime,
    size: entry.type === 'file' ? stats.size : 0,
    linkname: entry.linkname,
    ...(entry.xattrs ? { xattrs: entry.xattrs } : {}),
  };
}

/** Bytes per piece the tar comes in (a large file's bytes are read this much at a time too). */
const PIECE = 256 * 1024;

export type ContextTar = AsyncGenerator<Buffer>;

/** The context directory as a tar stream of what `options` let through. */
export async function* packContext(root: string, options: WalkOptions): ContextTar {
  const base = root.replace(/\/+$/, '') || '/';
  let piece = Buffer.allocUnsafe(PIECE);
  let used = 0;
  /** The piece so far, and a new one with room for at least n bytes. */
  const next = (n: number): Buffer => {
    const full = piece.subarray(0, used);
    piece = Buffer.allocUnsafe(Math.max(PIECE, n));
    used = 0;
    return full;
  };
  for (const entry of contextEntries(root, options)) {
    const header = tarHeader(headerOf(entry));
    if (used + header.length > piece.length) yield next(header.length);
    used += header.copy(piece, used);
    if (entry.type !== 'file' || !entry.stats.size) continue;
    // Exactly the size the header promises: a file that grows meanwhile is cut, one that shrinks fails.
    const size = entry.stats.size;
    const fd = openSync(`${base}/${entry.path}`, 'r');
    try {
      for (let done = 0; done < size;) {
        if (used === piece.length) yield next(0);
        const n = readSync(fd, piece, used, Math.min(size - done, piece.length - used), done);
        if (n === 0) throw new Error(`context: ${entry.path} changed size while it was read`);
        used += n;
        done += n;
      }
    } finally {
      closeSync(fd);
    }
    const pad = padding(size);
    if (used + pad > piece.length) yield next(pad);
    piece.fill(0, used, used + pad);
    used += pad;
  }
  if (used + TAR_END.length > piece.length) yield next(TAR_END.length);
  used += TAR_END.copy(piece, used);
  yield piece.subarray(0, used);
}
