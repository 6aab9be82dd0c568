/**
 * COPY and ADD as filesystem operations: from a source root (the extracted build context, or a
 * stage's or image's mounted rootfs for --from) into a mounted rootfs, with Docker's (BuildKit's)
 * rules. The executor mounts both and resolves --chown's names first (chown.ts).
 *
 * Sources are paths in the source root ("/x" is "x"), with Go filepath.Match wildcards (glob.ts)
 * matched against the entries themselves (links not followed while matching). A path that
 * leads out of a build context (`../x`, a link to an absolute path or climbing out) is an error
 * naming it; in a rootfs, paths resolve inside it as in a chroot. The source path itself is
 * followed when it is a link (Docker copies what `COPY link /d/` names, under the link's name);
 * links inside a copied directory are copied as links, their targets as written.
 *
 * The destination resolves against the WORKDIR when relative, links followed inside the rootfs
 * (never on the host). It is a directory when it ends in "/" (or is "." or ".."), when it exists as
 * one, or when the source is a directory; more than one source needs a "/"-ended one. Missing
 * directories are made root's (or --chown's), 0755. A source directory copies its contents, not
 * itself. Inside the copy, nothing is written through a link: a directory may not land on a
 * non-directory ("cannot copy to non-directory"), a file replaces what is there but a directory.
 *
 * Copied entries keep their modes (unless --chmod, which does not touch the directories made on
 * the way), mtimes, extended attributes (security.capability, user.*, …: xattrs.ts, after the
 * chown that would clear a capability), and hard links among themselves; their owner is root
 * (0:0) unless --chown: Docker's documented rule, also for --from (BuildKit keeps a --from
 * source's owners instead). Device nodes and FIFOs of a rootfs source are made with mknod(1);
 * sockets are skipped (listed in the result).
 *
 * ADD: a source that is a local tar archive (plain, gzip, bzip2, xz or zstd, told by its bytes,
 * never its name) is extracted into the destination directory instead (untar.ts, "archive");
 * anything else is copied as COPY does. URLs (http, https, git) are refused.
 */
import { ErrorKind, invalidArgument, isKind, notFound, notImplemented } from '@ctl/proto/errors';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  type Stats,
  chmodSync,
  constants,
  copyFileSync,
  createReadStream,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
} from 'node:fs';
import { copyFile, readdir } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { promisify } from 'node:util';
import { ComponentPattern, hasWildcards } from './glob';
import {
  OutsideRoot,
  inRoot,
  lstatIfAny,
  lstatIfAnyAsync,
  mkdirInRoot,
  resolveInRoot,
  resolvePathInRoot,
} from '@ctl/runtime-native/in-root';
import { Slicer } from './slices';
import { type FileDigests, type Owner, type Peeked, decompressed, isTarHeader, peek, untar } from './untar';
import { copyXattrs, keptXattrs } from './xattrs';

export type { Owner } from './untar';

/** Where COPY/ADD read from. */
export interface CopySources {
  /** the extracted build context, or a stage's or image's mounted rootfs (--from) */
  sourceRoot: string;
  /** context: paths leading out of sourceRoot are errors; rootfs: they resolve inside it */
  sourceKind: 'context' | 'rootfs';
  /** as the instruction writes them: relative to sourceRoot, with wildcards */
  sources: string[];
  /** ADD rather than COPY: archives are extracted, messages say ADD */
  add: boolean;
  /** the source root's file digests taken when it was extracted (a context): those files are not read again */
  knownDigests?: FileDigests;
}

export interface CopyRequest extends CopySources {
  /** the mounted rootfs written to */
  rootfs: string;
  /** as the instruction writes it */
  dest: string;
  /** the stage's WORKDIR (absolute in the image), against which a relative dest resolves; default "/" */
  workdir?: string;
  /** owner of everything copied and every directory made (resolveChown); default 0:0 */
  chown?: Owner;
  /** mode bits of every file and directory copied (--chmod, octal) */
  chmod?: number;
}

export interface CopyResult {
  /** entries written that are not directories (files, links, device nodes), archives' included */
  files: number;
  directories: number;
  /** bytes of file contents written */
  bytes: number;
  /** ADD sources extracted as archives */
  archives: number;
  /** entries not copied, in the image's paths (sockets) */
  skipped: string[];
}

/** One source path after wildcard expansion. */
interface Match {
  /** the path as matched in the source root, for messages and the cache key */
  path: string;
  /** its host path, the source path followed when it is a link */
  host: string;
  /** the name it gets in a destination directory (a link's own name) */
  name: string;
  stat: Stats;
}

const ROOT: Owner = { uid: 0, gid: 0 };
const URL = /^[a-z][a-z0-9+.-]*:\/\/|^git@[^:/]+:/i;

export async function copyInto(request: CopyRequest): Promise<CopyResult> {
  const instruction = request.add ? 'ADD' : 'COPY';
  if (request.sources.length === 0) throw invalidArgument(`${instruction} needs at least one source`);
  const owner = request.chown ?? ROOT;
  const made = { ...owner, mode: 0o755 };
  const matches = await expandAll(request);

  const destPath = posix.isAbsolute(request.dest) ? request.dest : posix.join('/', request.workdir ?? '/', request.dest);
  const destIsDirectory = /\/$|(^|\/)\.\.?$/.test(request.dest);
  if (matches.length > 1 && !destIsDirectory)
    throw invalidArgument(`When using ${instruction} with more than one source file, the destination must be a directory and end with a /`);
  await mkdirInRoot(request.rootfs, destIsDirectory ? destPath : posix.dirname(destPath), made);
  const dest = await resolvePathInRoot(request.rootfs, destPath);
  const destHost = join(request.rootfs, dest);

  const copier = new Copier(request, instruction, owner);
  for (const m of matches) {
    if (request.add && m.stat.isFile()) {
      const archive = await openArchive(m.host, `${instruction} ${m.path}`);
      if (archive) {
        const into = await mkdirInRoot(request.rootfs, dest, made);
        const r = await untar(archive, into, { kind: 'archive', what: `${instruction} ${m.path}`, owner: request.chown });
        copier.result.files += r.files;
        copier.result.directories += r.directories;
        copier.result.bytes += r.bytes;
        copier.result.archives++;
        continue;
      }
    }
    const existing = await lstatIfAnyAsync(destHost);
    let target = destHost;
    if (m.stat.isDirectory()) {
      if (!existing) await mkdirInRoot(request.rootfs, dest, made);
    } else if (existing?.isDirectory()) target = join(destHost, m.name);
    else await mkdirInRoot(request.rootfs, posix.dirname(dest), made);
    await copier.copy(m.host, m.stat, target, true);
  }
  return copier.result;
}

/**
 * The cache key of COPY/ADD's sources: sha256 over each matched path, then every entry under it
 * (sorted) with its relative path, type, mode bits, extended attributes, and a file's contents, a
 * link's target or a device's number. Owners and times are left out (COPY sets owners; a touch changes nothing
 * copied that matters), so an unchanged context hits the cache and a changed byte misses. The
 * instruction's own text (dest, --chown, --chmod) is the caller's part of the key.
 */
export async function hashSources(sources: CopySources): Promise<string> {
  const hash = createHash('sha256');
  const field = (...parts: (string | number | bigint)[]) => {
    for (const p of parts) hash.update(`${p}\0`);
  };
  const tree: HashWalk = { field, known: sources.knownDigests, slicer: new Slicer() };
  for (const source of sources.sources) {
    field('source', source);
    for (const m of await expand(sources, source)) {
      field('match', m.path);
      await hashTree(m.host, m.stat, '.', tree);
    }
  }
  return `sha256:${hash.digest('hex')}`;
}

interface HashWalk {
  field(...parts: (string | number | bigint)[]): void;
  known: FileDigests | undefined;
  slicer: Slicer;
}

async function hashTree(host: string, st: Stats, rel: string, walk: HashWalk): Promise<void> {
  const mode = (st.mode & 0o7777).toString(8);
  const { field } = walk;
  // What COPY keeps of them; a context file's setcap or user.* change is a change of the copy.
  for (const [name, value] of keptXattrs(host)) field('xattr', rel, name, value.toString('base64'));
  if (st.isDirectory()) {
    field('dir', rel, mode);
    for (const name of readdirSync(host).sort()) {
      const child = join(host, name);
      await hashTree(child, lstatSync(child), posix.join(rel, name), walk);
    }
  } else if (st.isFile()) {
    const known = walk.known?.get(st.ino);
    const digest = known && known.size === st.size && known.mtimeMs === st.mtimeMs ? known.digest : await fileDigest(host);
    field('file', rel, mode, st.size, digest);
  } else if (st.isSymbolicLink()) field('symlink', rel, readlinkSync(host));
  else field('special', rel, mode, st.mode & constants.S_IFMT, st.rdev);
  await walk.slicer.pause();
}

async function fileDigest(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function expandAll(sources: CopySources): Promise<Match[]> {
  const all: Match[] = [];
  for (const source of sources.sources) all.push(...(await expand(sources, source)));
  return all;
}

/** One source path: its matches, each resolved (followed when a link) and stat'ed. */
async function expand(sources: CopySources, source: string): Promise<Match[]> {
  const instruction = sources.add ? 'ADD' : 'COPY';
  if (URL.test(source)) {
    if (sources.add) throw notImplemented(`ADD from a URL is not supported: ${source}`);
    throw invalidArgument(`COPY cannot copy from a URL: ${source}`);
  }
  const where = sources.sourceKind === 'context' ? 'the build context' : 'the source image';
  const climb = sources.sourceKind === 'context' ? 'refuse' : 'clamp';
  const resolve = async (path: string): Promise<string> => {
    try {
      return await resolveInRoot(sources.sourceRoot, path, { climb });
    } catch (err) {
      if (err instanceof OutsideRoot) throw invalidArgument(`${instruction} failed: forbidden path outside the build context: ${source}`);
      throw err;
    }
  };
  const parts = source.split('/').filter((p) => p !== '' && p !== '.');
  const wild = parts.findIndex(hasWildcards);
  let paths: string[];
  if (wild < 0) paths = [parts.join('/')];
  else {
    const patterns = parts.slice(wild).map((p) => new ComponentPattern(p));
    const prefix = parts.slice(0, wild).join('/');
    paths = (await matchTree(await resolve(prefix), patterns)).map((rel) => posix.join(prefix, rel));
    if (paths.length === 0) throw notFound(`${instruction} failed: no source files were found for "${source}" in ${where}`);
  }
  const matches: Match[] = [];
  for (const path of paths) {
    const host = await resolve(path);
    const stat = await lstatIfAnyAsync(host);
    if (!stat) throw notFound(`${instruction} failed: "${source}" not found in ${where}`);
    matches.push({ path: path || '.', host, name: posix.basename(path), stat });
  }
  return matches;
}

/**
 * The paths under dir that match the component patterns, in Go's filepath.Walk order (sorted,
 * depth first); a matched directory is not descended into further, and links are not followed.
 */
async function matchTree(dir: string, patterns: ComponentPattern[]): Promise<string[]> {
  const st = await lstatIfAnyAsync(dir);
  if (!st?.isDirectory()) return [];
  const out: string[] = [];
  const [first, ...rest] = patterns;
  for (const name of (await readdir(dir)).sort()) {
    if (!first.matches(name)) continue;
    if (rest.length === 0) out.push(name);
    else for (const sub of await matchTree(join(dir, name), rest)) out.push(posix.join(name, sub));
  }
  return out;
}

/** The decompressed stream of a file when it is a tar archive (ADD extracts it), else undefined. */
async function openArchive(path: string, what: string): Promise<AsyncIterable<Uint8Array> | undefined> {
  const file = createReadStream(path, { highWaterMark: 1 << 20 });
  let probe: Peeked;
  try {
    probe = await peek(await decompressed(file, what), 512);
  } catch (err) {
    file.destroy();
    // A missing decompressor is the host's problem, not the file's.
    if (isKind(err, ErrorKind.FailedPrecondition)) throw err;
    // Not decompressible after all (it only starts like gzip): an ordinary file, as Docker has it.
    return undefined;
  }
  if (isTarHeader(probe.head)) return probe.whole;
  await probe.close();
  file.destroy();
  return undefined;
}

const run = promisify(execFile);

/** Files up to this size are copied with one synchronous call (slices.ts); larger ones asynchronously, not to hold the daemon up. */
const SYNC_COPY_MAX = 1 << 20;

/** One COPY/ADD's walk: its owner and mode, the hard links seen, what it wrote. */
class Copier {
  readonly result: CopyResult = { files: 0, directories: 0, bytes: 0, archives: 0, skipped: [] };
  /** source inode (dev:ino) → the first copy's host path, so hard links stay hard links */
  private readonly inodes = new Map<string, string>();
  private readonly slicer = new Slicer();

  constructor(
    private readonly request: CopyRequest,
    private readonly instruction: string,
    private readonly owner: Owner,
  ) {}

  /**
   * Copies src onto target (its parent a real directory). top: the destination itself, whose
   * metadata stays when it is an existing directory (the contents are merged into it). fresh:
   * target's parent was made by this copy, so nothing is there yet.
   */
  async copy(src: string, st: Stats, target: string, top: boolean, fresh = false): Promise<void> {
    const existing = fresh ? undefined : lstatIfAny(target);
    if (st.isDirectory()) {
      if (existing && !existing.isDirectory())
        throw invalidArgument(`${this.instruction} failed: cannot copy to non-directory: ${this.inImage(target)}`);
      if (!existing) mkdirSync(target, { mode: 0o700 });
      for (const name of readdirSync(src).sort()) {
        const child = join(src, name);
        await this.copy(child, lstatSync(child), join(target, name), false, !existing);
      }
      if (!top || !existing) {
        this.metadata(target, st);
        copyXattrs(src, target, `${this.instruction} ${this.inImage(target)}`);
      }
      this.result.directories++;
      return;
    }
    if (st.isSocket()) {
      this.result.skipped.push(this.inImage(target));
      return;
    }
    if (existing?.isDirectory())
      throw invalidArgument(`${this.instruction} failed: cannot replace the directory ${this.inImage(target)} with a file`);
    if (existing) unlinkSync(target);
    this.result.files++;
    if (st.isFile()) {
      const inode = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? this.inodes.get(inode) : undefined;
      if (first) {
        linkSync(first, target);
        return;
      }
      if (st.nlink > 1) this.inodes.set(inode, target);
      // COPYFILE_EXCL: created with O_EXCL, so a link put at target is never written through.
      if (st.size <= SYNC_COPY_MAX) copyFileSync(src, target, constants.COPYFILE_EXCL);
      else await copyFile(src, target, constants.COPYFILE_EXCL);
      this.result.bytes += st.size;
    } else if (st.isSymbolicLink()) symlinkSync(readlinkSync(src), target);
    else await makeNode(target, st);
    // A copied file has its source's mode already (copyfile sets it).
    this.metadata(target, st, st.isFile());
    copyXattrs(src, target, `${this.instruction} ${this.inImage(target)}`);
    await this.slicer.pause();
  }

  /** Owner, mode and times of target; hasMode: it was made with st's mode (which only a chown's clearing of set-id bits undoes). */
  private metadata(target: string, st: Stats, hasMode = false): void {
    lchownSync(target, this.owner.uid, this.owner.gid);
    if (st.isSymbolicLink()) {
      lutimesSync(target, st.atimeMs / 1000, st.mtimeMs / 1000);
      return;
    }
    // After the chown, which clears set-id bits.
    if (this.request.chmod !== undefined || !hasMode || st.mode & 0o6000) chmodSync(target, this.request.chmod ?? st.mode & 0o7777);
    utimesSync(target, st.atimeMs / 1000, st.mtimeMs / 1000);
  }

  private inImage(host: string): string {
    return inRoot(this.request.rootfs, host);
  }
}

/** A device node or FIFO like st, with mknod(1): Node has no mknod call. */
async function makeNode(target: string, st: Stats): Promise<void> {
  const mode = (st.mode & 0o7777).toString(8);
  if (st.isFIFO()) {
    await run('mknod', ['-m', mode, target, 'p']);
    return;
  }
  // Linux's dev_t: major in bits 8-19 and 32-43, minor in bits 0-7 and 20-31.
  const rdev = BigInt(st.rdev);
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  await run('mknod', ['-m', mode, target, st.isCharacterDevice() ? 'c' : 'b', String(major), String(minor)]);
}
