/**
 * The ingest directory of the content store on disk (see store.ts for the layout and its crash
 * rules): writes in progress, one directory per namespace and ref, that appear whole (made under
 * a temporary name and renamed) and go away whole (renamed to a trash name, then removed).
 */
import { EngineError, ErrorKind, ensureDir, invalidArgument } from '@ctl/proto';
import { fromEpochNanos, parseTime } from '@ctl/proto/time';
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Status } from './content';

/** Read chunk size: containerd's content service reads and sends 1 MiB at a time. */
export const READ_CHUNK = 1 << 20;
export const MAX_REF_BYTES = 4096;

export const DIGEST_PATTERN = /^sha256:[a-f0-9]{64}$/;

export function validateDigest(digest: string): string {
  if (!DIGEST_PATTERN.test(digest)) throw invalidArgument(`digest "${digest.slice(0, 80)}" is not valid: expected sha256:<64 hex digits>`);
  return digest;
}

export function validateRef(ref: string): string {
  if (!ref) throw invalidArgument('ingest ref must not be empty');
  if (Buffer.byteLength(ref) > MAX_REF_BYTES)
    throw invalidArgument(`ingest ref "${ref.slice(0, 64)}…" is longer than ${MAX_REF_BYTES} bytes`);
  return ref;
}

export function validateSize(value: number | undefined, what: string): number {
  const n = value ?? 0;
  if (!Number.isSafeInteger(n) || n < 0) throw invalidArgument(`${what} ${value} must be a non-negative integer`);
  return n;
}

export const errno = (err: unknown): string | undefined => (err as NodeJS.ErrnoException).code;

export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** An ingest's meta.json. */
export interface IngestMeta {
  namespace: string;
  ref: string;
  total: number;
  expected: string;
  startedAt: string;
  /** The lease the last writer was opened under; absent: none (the ingest expires instead). */
  lease?: string;
}

/**
 * key = sha256 of namespace NUL ref, so refs of any length and content map to a fixed name and two
 * namespaces can use the same ref.
 */
export function ingestKey(namespace: string, ref: string): string {
  return createHash('sha256').update(`${namespace}\0${ref}`).digest('hex');
}

export class IngestArea {
  constructor(readonly root: string) {}

  dir(key: string): string {
    return join(this.root, key);
  }

  dataPath(key: string): string {
    return join(this.dir(key), 'data');
  }

  /** Makes the directory and removes what an interrupted create or drop left (dot names). */
  async open(): Promise<void> {
    ensureDir(this.root, 0o700);
    for (const name of await readdir(this.root)) {
      if (name.startsWith('.')) await rm(join(this.root, name), { recursive: true, force: true });
    }
  }

  /** The keys of the ingests there, sorted. */
  async keys(): Promise<string[]> {
    return (await readdir(this.root)).filter((name) => !name.startsWith('.')).sort();
  }

  async readMeta(key: string): Promise<IngestMeta | undefined> {
    try {
      return JSON.parse(await readFile(join(this.dir(key), 'meta.json'), 'utf8')) as IngestMeta;
    } catch (err) {
      if (errno(err) === 'ENOENT') return undefined;
      throw new EngineError(ErrorKind.Internal, `read ingest ${key}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Writes meta.json of an existing ingest. */
  async updateMeta(key: string, meta: IngestMeta): Promise<void> {
    await writeMeta(this.dir(key), meta);
  }

  /** Makes an ingest whole: meta.json and an empty data file under a temporary name, then renamed. */
  async create(key: string, meta: IngestMeta): Promise<void> {
    const tmp = join(this.root, `.tmp-${key}-${randomBytes(4).toString('hex')}`);
    ensureDir(tmp, 0o700);
    try {
      await writeMeta(tmp, meta);
      await writeFile(join(tmp, 'data'), '', { mode: 0o600 });
      await rename(tmp, this.dir(key));
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  /** Status of an ingest from disk: the data file's size and time. */
  async status(key: string, meta: IngestMeta): Promise<Status> {
    let offset = 0;
    const startedAt = parseTime(meta.startedAt);
    let updatedAt = startedAt;
    try {
      const st = await stat(this.dataPath(key), { bigint: true });
      offset = Number(st.size);
      updatedAt = fromEpochNanos(st.mtimeNs);
    } catch (err) {
      if (errno(err) !== 'ENOENT') throw err;
    }
    return { ref: meta.ref, offset, total: meta.total, expected: meta.expected, startedAt, updatedAt };
  }

  /** Removes an ingest directory in one step (rename to a trash name), then its files; false when there was none. */
  async drop(key: string): Promise<boolean> {
    const trash = join(this.root, `.trash-${key}-${randomBytes(4).toString('hex')}`);
    try {
      await rename(this.dir(key), trash);
    } catch (err) {
      if (errno(err) === 'ENOENT') return false;
      throw err;
    }
    await rm(trash, { recursive: true, force: true });
    return true;
  }
}

/** Writes meta.json atomically (temporary name, fsync, rename). */
async function writeMeta(dir: string, meta: IngestMeta): Promise<void> {
  const tmp = join(dir, `.meta-${randomBytes(6).toString('hex')}`);
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(JSON.stringify(meta));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, join(dir, 'meta.json'));
}
