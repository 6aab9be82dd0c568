/**
 * Tar extraction for builds, in two flavours that share one reader:
 *
 * - context (context.ts): the build context the CLI streams, into a fresh private directory.
 *   Nothing in it may name anything outside it: absolute names, `..` that climbs out, a name
 *   through a symbolic link (links are created as links, never followed while extracting), a hard
 *   link to anything but an earlier entry, device nodes and FIFOs are all refused
 *   (InvalidArgument naming the entry). Owners are the archive's (the client's files); COPY
 *   without --chown makes them root's anyway.
 * - archive (ADD of a local tar, copy.ts): into the destination directory of an image, as Docker
 *   extracts it: names relative to that directory (a leading "/" too; `..` that climbs out is
 *   refused), links on the way resolved inside it as in a chroot (an image's `/lib -> usr/lib`
 *   is merged into), a directory entry over a link to a directory merges into its target, any
 *   other existing entry is replaced. Owners are the archive's unless --chown. Device nodes and
 *   FIFOs are refused as BuildKit does.
 *
 * Both keep modes (set-id bits included), mtimes and extended attributes (pax SCHILY.xattr
 * records, set after the owner: xattrs.ts); directories' mtimes are set last, since their
 * entries change them. A context may also be extracted over the one of the client's last build
 * (UntarOptions.reuse): the same tree, written only where it changed, attributes included.
 */
import { EngineError, ErrorKind, failedPrecondition, invalidArgument, wrap } from '@ctl/proto/errors';
import { createHash, hash } from 'node:crypto';
import {
  type Stats,
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { join, posix } from 'node:path';
import { type StreamCompression, decompress } from '../archive/common';
import { inRoot, lstatIfAny, mkdirInRootSync, resolveInRootSync } from '@ctl/runtime-native/in-root';
import { Slicer } from './slices';
import { type TarEvent, type TarHeader, TarReader } from './tar-reader';
import { applyXattrs, syncXattrs } from './xattrs';

export interface Owner {
  uid: number;
  gid: number;
}

export interface UntarLimits {
  /** bytes of file contents, in all */
  maxBytes?: number;
  /** entries of any type */
  maxEntries?: number;
}

/**
 * The sha256 of each regular file's contents, by inode, taken while the file is written, so
 * that what reads the tree for its contents' sake (a COPY's cache key) need not read it again.
 * Size and mtime are kept beside it: a file that does not match them any more is read instead.
 */
export type FileDigests = Map<number, { digest: string; size: number; mtimeMs: number }>;

export interface UntarOptions {
  kind: 'context' | 'archive';
  /** what the tar is, for messages: "build context", "ADD app.tar.gz" */
  what: string;
  /** every entry's owner instead of the archive's (ADD --chown) */
  owner?: Owner;
  limits?: UntarLimits;
  /**
   * The digests of the regular files, filled as they are written. With reuse, it comes holding
   * those of the earlier context in root and leaves holding those of the new one.
   */
  digests?: FileDigests;
  /**
   * context: root holds an earlier extraction (of the same client's context, see context.ts):
   * what is there and is what an entry describes (a file of the same bytes, the same link, a
   * directory) is kept, its metadata set as the entry's; anything else is replaced as in an
   * empty root; and what the tar does not name is removed at the end. The tree is then what
   * extracting into an empty root makes, without writing what did not change.
   */
  reuse?: boolean;
}

export interface UntarResult {
  /** entries that are not directories: files, symbolic and hard links */
  files: number;
  directories: number;
  /** bytes of file contents */
  bytes: number;
}

/** Directories made for names whose parents the archive does not list: root's, 0755 (as Docker). */
const IMPLIED: Owner & { mode: number } = { uid: 0, gid: 0, mode: 0o755 };

/** Where a file entry's bytes go as they come. */
interface FileSink {
  write(data: Buffer): void;
  /** all bytes written: the file gets its metadata */
  end(): void;
  /** the extraction failed meanwhile */
  abort(): void;
}

const toBuffer = (chunk: Uint8Array): Buffer =>
  Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);

/**
 * Extracts the tar into root. Everything but reading the source is synchronous (the tar reader
 * and the filesystem calls), in slices (slices.ts).
 */
export async function untar(source: AsyncIterable<Uint8Array>, root: string, options: UntarOptions): Promise<UntarResult> {
  const state: State = {
    root,
    options,
    result: { files: 0, directories: 0, bytes: 0 },
    entries: 0,
    directoryTimes: [],
    directories: new Set(),
    ...(options.reuse && options.kind === 'context' ? { reuse: { named: new Map(), digests: new Map() } } : {}),
  };
  const notTar = (err: unknown) => invalidArgument(`${options.what} is not a valid tar archive: ${(err as Error).message}`);
  const reader = new TarReader();
  const input = source[Symbol.asyncIterator]();
  const slicer = new Slicer();
  let sink: FileSink | undefined;
  /** the entry being extracted, for messages */
  let current = '';
  let done = false;
  try {
    for (;;) {
      let next: IteratorResult<Uint8Array>;
      try {
        next = await input.next();
      } catch (err) {
        throw wrap(err, `read ${options.what}`);
      }
      if (next.done) break;
      const events = reader.push(toBuffer(next.value));
      for (;;) {
        let event: IteratorResult<TarEvent>;
        try {
          event = events.next();
        } catch (err) {
          throw notTar(err);
        }
        if (event.done) break;
        const e = event.value;
        if ('header' in e) current = e.header.name;
        try {
          if ('header' in e) sink = beginEntry(e.header, state);
          else if ('data' in e) sink?.write(e.data);
          else {
            const ending = sink;
            sink = undefined;
            ending?.end();
          }
        } catch (err) {
          throw err instanceof EngineError ? err : wrap(err, `${options.what}: extract "${current}"`);
        }
        if ('end' in e) await slicer.pause();
      }
    }
    done = true;
    try {
      reader.finish();
    } catch (err) {
      throw notTar(err);
    }
    if (state.reuse) {
      await sweep(root, '', state.reuse.named, slicer);
      options.digests?.clear();
      for (const [ino, digest] of state.reuse.digests) options.digests?.set(ino, digest);
    }
    // Deepest first: setting a parent's times is not undone by its children's. A directory that
    // a later entry replaced (by a link, say) is not there to get them: utimes would follow the link.
    for (const d of state.directoryTimes.reverse()) {
      if (stillDirectory(root, d.path)) utimesSync(d.path, d.mtime, d.mtime);
      await slicer.pause();
    }
    return state.result;
  } finally {
    sink?.abort();
    // An abandoned source stops (a decompressor's process among them).
    if (!done) await input.return?.().catch(() => undefined);
  }
}

interface State {
  root: string;
  options: UntarOptions;
  result: UntarResult;
  entries: number;
  directoryTimes: { path: string; mtime: Date }[];
  /**
   * context: host paths known to be real directories (made or checked here), so that the
   * parents of the next entries are not checked again; what replaces one drops it and those below.
   */
  directories: Set<string>;
  reuse?: Reuse;
}

interface Reuse {
  /** the names (relative) this tar has made so far, true for directories; anything else in root is left from before */
  named: Map<string, boolean>;
  /** the digests of the files this tar has made or kept */
  digests: FileDigests;
}

/** Files up to this size are read whole before they are written, to be kept when they have not changed (reuse). */
const KEEP_MAX = 1 << 20;

/** Removes what the tar did not name from dir (reuse's last pass). */
async function sweep(dir: string, rel: string, named: Map<string, boolean>, slicer: Slicer): Promise<void> {
  for (const name of readdirSync(dir)) {
    const childRel = rel ? `${rel}/${name}` : name;
    const isDirectory = named.get(childRel);
    if (isDirectory === undefined) rmSync(join(dir, name), { recursive: true, force: true });
    else if (isDirectory) await sweep(join(dir, name), childRel, named, slicer);
    await slicer.pause();
  }
}

/** Whether path (under root) is still reached through real directories only, and is one. */
function stillDirectory(root: string, path: string): boolean {
  let at = root;
  for (const part of path.slice(root.length + 1).split('/')) {
    at = join(at, part);
    if (!lstatIfAny(at)?.isDirectory()) return false;
  }
  return true;
}

/** Owner, mode and times of an existing entry set to what an entry says, each only when it differs. */
function settle(path: string, st: Stats, owner: Owner, mode: number, mtime: Date): void {
  const chowned = st.uid !== owner.uid || st.gid !== owner.gid;
  if (chowned) lchownSync(path, owner.uid, owner.gid);
  if (st.isSymbolicLink()) {
    if (st.mtimeMs !== mtime.getTime()) lutimesSync(path, mtime, mtime);
    return;
  }
  // A chown clears set-id bits: the mode goes on again after one.
  if (chowned || (st.mode & 0o7777) !== mode) chmodSync(path, mode);
  if (st.mtimeMs !== mtime.getTime()) utimesSync(path, mtime, mtime);
}

/** An entry's extended attributes onto what was made for it; what is called "kept" had others before (reuse). */
function entryXattrs(path: string, header: TarHeader, state: State, kept: boolean): void {
  const what = `${state.options.what}: entry "${header.name}"`;
  if (kept) syncXattrs(path, header.xattrs, what);
  else if (header.xattrs) applyXattrs(path, header.xattrs, what);
}

/**
 * An entry's name made relative to the root and clean; "" for the root itself. InvalidArgument
 * when it climbs out (or, in a context, is absolute).
 */
function cleanName(raw: string, state: State, label: string): string {
  const refuse = (why: string) =>
    invalidArgument(`${state.options.what}: ${label} ${why}: a ${state.options.kind} may not name anything outside it`);
  if (raw.startsWith('/') && state.options.kind === 'context') throw refuse('is absolute');
  const clean = posix.normalize(raw.replace(/^\/+/, '') || '.').replace(/\/+$/, '');
  if (clean === '..' || clean.startsWith('../')) throw refuse('climbs out of it with ".."');
  return clean === '.' ? '' : clean;
}

/**
 * The host directory that holds name's last component. context: every component must be a real
 * directory (missing ones are made); archive: resolved inside the root, links followed. make
 * false (a hard link's target): a missing component ends the walk, its path returned.
 */
function parentOf(name: string, state: State, raw: string, make = true): string {
  const parent = posix.dirname(name);
  if (state.options.kind === 'archive') return mkdirInRootSync(state.root, parent, IMPLIED);
  const named = state.reuse?.named;
  let at = state.root;
  let rel = '';
  for (const part of parent === '.' ? [] : parent.split('/')) {
    at = join(at, part);
    rel = rel ? `${rel}/${part}` : part;
    if (state.directories.has(at)) continue;
    let st = lstatIfAny(at);
    if (st && named && !named.has(rel)) {
      // Left from the earlier context: as if not there, but a directory may serve as the implied one.
      if (!make) return at;
      if (st.isDirectory()) {
        settle(at, st, IMPLIED, IMPLIED.mode, st.mtime);
        syncXattrs(at, undefined, `${state.options.what}: entry "${raw}"`);
      } else {
        rmSync(at, { force: true });
        st = undefined;
      }
    }
    if (!st && !make) return at;
    if (!st) {
      mkdirSync(at, { mode: 0o700 });
      lchownSync(at, IMPLIED.uid, IMPLIED.gid);
      chmodSync(at, IMPLIED.mode);
    } else if (st.isSymbolicLink())
      throw invalidArgument(
        `${state.options.what}: entry "${raw}" goes through the symbolic link ${inRoot(state.root, at)}: the context may not name anything outside it`,
      );
    else if (!st.isDirectory())
      throw invalidArgument(`${state.options.what}: entry "${raw}": ${inRoot(state.root, at)} is not a directory`);
    named?.set(rel, true);
    state.directories.add(at);
  }
  return at;
}

/** Makes the entry; for a file, the sink its bytes go to. */
function beginEntry(header: TarHeader, state: State): FileSink | undefined {
  const { options, result } = state;
  if (++state.entries > (options.limits?.maxEntries ?? Infinity))
    throw new EngineError(ErrorKind.ResourceExhausted, `${options.what} has more than ${options.limits!.maxEntries} entries`);
  const name = cleanName(header.name, state, `entry "${header.name}"`);
  // The root entry ("./"): the root is the caller's directory, its metadata stays.
  if (name === '') return;
  const owner = options.owner ?? { uid: header.uid, gid: header.gid };
  const mode = header.mode & 0o7777;
  const mtime = header.mtime ?? new Date(0);

  switch (header.type) {
    case 'directory': {
      // In an archive, a directory over a link to a directory merges into it (an image's /lib -> usr/lib).
      const path =
        options.kind === 'archive' ? resolveInRootSync(state.root, name) : join(parentOf(name, state, header.name), posix.basename(name));
      const st = lstatIfAny(path);
      if (st && !st.isDirectory()) remove(path, st, state);
      if (!st?.isDirectory()) {
        if (options.kind === 'archive') mkdirInRootSync(state.root, posix.dirname(inRoot(state.root, path)), IMPLIED);
        mkdirSync(path, { mode: 0o700 });
      }
      const kept = Boolean(state.reuse && st?.isDirectory());
      if (kept) settle(path, st!, owner, mode, st!.mtime);
      else {
        lchownSync(path, owner.uid, owner.gid);
        chmodSync(path, mode);
      }
      entryXattrs(path, header, state, kept);
      state.reuse?.named.set(name, true);
      if (options.kind === 'context') state.directories.add(path);
      state.directoryTimes.push({ path, mtime });
      result.directories++;
      return;
    }
    case 'file':
    case 'contiguous-file': {
      if (result.bytes + header.size > (options.limits?.maxBytes ?? Infinity))
        throw new EngineError(ErrorKind.ResourceExhausted, `${options.what} holds more than ${options.limits!.maxBytes} bytes`);
      result.files++;
      result.bytes += header.size;
      if (state.reuse && header.size <= KEEP_MAX) {
        const chunks: Buffer[] = [];
        return {
          write: (data) => void chunks.push(data),
          end: () => reuseFile(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), name, header, state, owner, mode, mtime),
          abort: () => undefined,
        };
      }
      return writeFile(name, header, state, owner, mode, mtime);
    }
    case 'symlink': {
      result.files++;
      const linkname = header.linkname ?? '';
      if (state.reuse) {
        const path = join(parentOf(name, state, header.name), posix.basename(name));
        const st = lstatIfAny(path);
        if (st?.isSymbolicLink() && st.nlink === 1 && readlinkSync(path) === linkname) {
          settle(path, st, owner, 0o777, mtime);
          entryXattrs(path, header, state, true);
          state.reuse.named.set(name, false);
          return;
        }
      }
      // The target is data: kept as written, resolved (inside a root) only by whoever reads it.
      const path = freeing(name, state, header.name, (at) => {
        symlinkSync(linkname, at);
        return at;
      });
      lchownSync(path, owner.uid, owner.gid);
      lutimesSync(path, mtime, mtime);
      entryXattrs(path, header, state, false);
      state.reuse?.named.set(name, false);
      return;
    }
    case 'link': {
      const target = hardLinkTarget(header, state);
      result.files++;
      if (state.reuse) {
        const path = join(parentOf(name, state, header.name), posix.basename(name));
        const st = lstatIfAny(path);
        const targetSt = lstatSync(target);
        if (st && path !== target && st.ino === targetSt.ino && st.dev === targetSt.dev) {
          if (!st.isSymbolicLink()) settle(path, st, owner, mode, mtime);
          entryXattrs(path, header, state, false);
          state.reuse.named.set(name, false);
          return;
        }
      }
      const path = freeing(name, state, header.name, (at) => {
        linkSync(target, at);
        return at;
      });
      const st = lstatSync(path);
      if (!st.isSymbolicLink()) {
        lchownSync(path, owner.uid, owner.gid);
        chmodSync(path, mode);
        utimesSync(path, mtime, mtime);
      }
      // The inode's attributes are its first entry's; a link entry that repeats them sets them again.
      entryXattrs(path, header, state, false);
      state.reuse?.named.set(name, false);
      return;
    }
    case 'character-device':
    case 'block-device':
    case 'fifo':
      throw invalidArgument(
        `${options.what}: entry "${header.name}" is a ${header.type.replace('-', ' ')}; device nodes and FIFOs are not supported${
          options.kind === 'context' ? ' (leave it out of the context with .dockerignore)' : ''
        }`,
      );
    default:
      throw invalidArgument(`${options.what}: entry "${header.name}" has an unsupported type (${String(header.type)})`);
  }
}

/**
 * make(path) at the host path where name's entry goes; when the name is taken, what is there
 * (not a directory being merged) is removed and make tried again, as tar does when an archive
 * names a path twice or ADD writes over an image's file.
 */
function freeing<T>(name: string, state: State, raw: string, make: (path: string) => T): T {
  const path = join(parentOf(name, state, raw), posix.basename(name));
  try {
    return make(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const st = lstatIfAny(path);
  if (st) remove(path, st, state);
  return make(path);
}

function remove(path: string, st: Stats, state: State): void {
  const named = state.reuse?.named;
  if (st.isDirectory()) {
    for (const d of state.directories) if (d === path || d.startsWith(`${path}/`)) state.directories.delete(d);
    if (named) {
      const rel = path.slice(state.root.length + 1);
      for (const n of named.keys()) if (n === rel || n.startsWith(`${rel}/`)) named.delete(n);
    }
  } else named?.delete(path.slice(state.root.length + 1));
  rmSync(path, { recursive: st.isDirectory(), force: true });
}

/**
 * A file written as into an empty root: its bytes as they come, its metadata at the end.
 * O_EXCL|O_NOFOLLOW: the name was just made free; a link put there meanwhile is not written through.
 */
function writeFile(name: string, header: TarHeader, state: State, owner: Owner, mode: number, mtime: Date): FileSink {
  let path = '';
  const fd = freeing(name, state, header.name, (at) => {
    path = at;
    return openSync(at, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  });
  const hash = state.options.digests ? createHash('sha256') : undefined;
  let open = true;
  const close = () => {
    if (open) closeSync(fd);
    open = false;
  };
  return {
    write(data) {
      for (let at = 0; at < data.length;) at += writeSync(fd, data, at);
      hash?.update(data);
    },
    end() {
      try {
        fchownSync(fd, owner.uid, owner.gid);
        fchmodSync(fd, mode);
        futimesSync(fd, mtime, mtime);
        entryXattrs(path, header, state, false);
        if (hash) {
          const st = fstatSync(fd);
          (state.reuse?.digests ?? state.options.digests!).set(st.ino, { digest: hash.digest('hex'), size: st.size, mtimeMs: st.mtimeMs });
        }
      } finally {
        close();
      }
      state.reuse?.named.set(name, false);
    },
    abort: close,
  };
}

/**
 * A file entry when reusing, its bytes whole: the file there is kept when it holds those bytes
 * (by the digest taken when it was written) and no other name links it, else it is written as
 * into an empty root.
 */
function reuseFile(data: Buffer, name: string, header: TarHeader, state: State, owner: Owner, mode: number, mtime: Date): void {
  const reuse = state.reuse!;
  const digest = hash('sha256', data);
  const path = join(parentOf(name, state, header.name), posix.basename(name));
  const st = lstatIfAny(path);
  // What this tar wrote has its digest in the new map; what was left from before, in the earlier one.
  const digests = reuse.named.has(name) ? reuse.digests : state.options.digests;
  const known = st?.isFile() && st.nlink === 1 ? digests?.get(st.ino) : undefined;
  if (st && known && known.digest === digest && known.size === st.size && known.mtimeMs === st.mtimeMs && st.size === data.length) {
    settle(path, st, owner, mode, mtime);
    entryXattrs(path, header, state, true);
    reuse.digests.set(st.ino, { digest, size: st.size, mtimeMs: mtime.getTime() });
    reuse.named.set(name, false);
    return;
  }
  const sink = writeFile(name, header, state, owner, mode, mtime);
  try {
    sink.write(data);
    sink.end();
  } finally {
    sink.abort();
  }
}

/**
 * The host path a hard link entry links to. context: an earlier entry (in a fresh private
 * directory, anything there is one), reached without links; archive: inside the root, its last
 * component not followed (a hard link to a symbolic link links the link, as link(2) does).
 */
function hardLinkTarget(header: TarHeader, state: State): string {
  const linkname = header.linkname ?? '';
  const name = cleanName(linkname, state, `hard link "${header.name}" to "${linkname}"`);
  if (name === '') throw invalidArgument(`${state.options.what}: hard link "${header.name}" links to the root`);
  const target =
    state.options.kind === 'context'
      ? join(parentOf(name, state, linkname, false), posix.basename(name))
      : resolveInRootSync(state.root, name, { followLast: false });
  // Reusing, only what this tar has made is an earlier entry.
  const named = state.reuse?.named.get(name);
  const st = state.reuse && named === undefined ? undefined : lstatIfAny(target);
  if (!st) throw invalidArgument(`${state.options.what}: hard link "${header.name}" links to "${linkname}", which is not an earlier entry`);
  if (st.isDirectory()) throw failedPrecondition(`${state.options.what}: hard link "${header.name}" links to the directory "${linkname}"`);
  return target;
}

/** A stream's first bytes, and the whole stream again; close() stops it when whole is not read. */
export interface Peeked {
  head: Buffer;
  whole: AsyncIterable<Uint8Array>;
  close(): Promise<void>;
}

/** The first size bytes of a stream (fewer when it is shorter), and the whole stream again. */
export async function peek(source: AsyncIterable<Uint8Array>, size: number): Promise<Peeked> {
  const it = source[Symbol.asyncIterator]();
  const chunks: Buffer[] = [];
  let length = 0;
  let ended = false;
  try {
    while (length < size) {
      const next = await it.next();
      if (next.done) {
        ended = true;
        break;
      }
      chunks.push(Buffer.from(next.value));
      length += next.value.length;
    }
  } catch (err) {
    await it.return?.().catch(() => undefined);
    throw err;
  }
  const head = Buffer.concat(chunks);
  // An abandoned stream stops its source (a decompressor's process among them).
  const close = async () => void (await it.return?.().catch(() => undefined));
  const whole = (async function* () {
    if (head.length) yield head;
    if (ended) return;
    try {
      for (let next = await it.next(); !next.done; next = await it.next()) yield next.value;
    } finally {
      await close();
    }
  })();
  return { head: head.subarray(0, size), whole, close };
}

const MAGIC: [StreamCompression, number[]][] = [
  ['gzip', [0x1f, 0x8b, 0x08]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
];

/** The compression a stream's first bytes announce (magic numbers, as Docker decides; never the name). */
export function compressionOf(head: Buffer): StreamCompression {
  const found = MAGIC.find(([, magic]) => head.length >= magic.length && magic.every((b, i) => head[i] === b));
  return found ? found[0] : 'none';
}

/** A stream decompressed when its first bytes say it is compressed. */
export async function decompressed(source: AsyncIterable<Uint8Array>, what: string): Promise<AsyncIterable<Uint8Array>> {
  const { head, whole } = await peek(source, 6);
  return decompress(whole, compressionOf(head), what);
}

/**
 * Whether a block is a tar header (its checksum holds), as Go's tar reader accepts one; an
 * all-zero block (an empty archive) is not.
 */
export function isTarHeader(block: Buffer): boolean {
  if (block.length < 512) return false;
  const field = block
    .subarray(148, 156)
    .toString('latin1')
    .replace(/^[\0 ]+|[\0 ]+$/g, '');
  if (!/^[0-7]+$/.test(field)) return false;
  const expected = parseInt(field, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < 512; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i];
    unsigned += b;
    signed += (b << 24) >> 24;
  }
  return expected === unsigned || expected === signed;
}
