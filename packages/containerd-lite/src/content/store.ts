/**
 * The content store on disk, with its records in containerd-lite's database.
 *
 *   <root>/blobs/sha256/<hex>        committed blobs, read-only, shared by all namespaces
 *   <root>/ingest/<key>/data         the bytes of a write in progress
 *   <root>/ingest/<key>/meta.json    { namespace, ref, total, expected, startedAt }
 *
 * key = sha256 of namespace NUL ref, so refs of any length and content map to a fixed name and
 * two namespaces can use the same ref. An ingest directory appears whole (made under a
 * temporary name and renamed) and goes away whole (renamed to a trash name, then removed);
 * leftovers of either are removed when the store opens.
 *
 * Crash safety: commit fsyncs the data, renames it into blobs/ and fsyncs that directory
 * before the record is written, so a record always points at a whole blob; a blob file is only
 * ever made from verified bytes, so one left without a record by a crash is whole too (it is
 * invisible until a namespace commits it again; GC will remove it). Deletion removes the
 * record first and the file last, when no namespace holds the blob any more.
 *
 * The records are also indexed in memory, read once at open: this service is the database's
 * only writer (LevelDB's lock), so the copy stays exact and Info and Read need no database
 * round trip (ctr reads blobs in 32 KiB Read calls).
 *
 * Leases: a writer opened with a lease records `lease-res/<ns>/<lease>/ingests/<ref>` before
 * the ingest is made, and the commit writes `lease-res/<ns>/<lease>/content/<digest>` (and
 * drops the ingest's) in the same batch as the blob's record, so the collector never sees the
 * ingest or the blob unheld. Commits, leased writer opens and label updates run under the GC
 * lock shared (gc/lock.ts); the collector's own removals go through removeRecord,
 * removeOrphanBlob and removeIngest, which re-check under the digest and ingest queues.
 *
 * Ingests and GC (containerd's rule, applied by gc/collector.ts): an ingest written under a
 * lease lives as long as the lease; one written without a lease is removed once it has not
 * been written to for the collector's ingest expiry (24 hours by default; containerd fixes
 * 24 hours from the writer's open). meta.json records the lease of the last writer.
 */
import {
  type Database,
  EngineError,
  ErrorKind,
  alreadyExists,
  ensureDir,
  failedPrecondition,
  invalidArgument,
  notFound,
  outOfRange,
  unavailable,
  validateNamespace,
} from '@ctl/proto';
import { parseFilters } from '@ctl/proto/filters';
import { applyLabelUpdate, validateLabels } from '@ctl/proto/labels';
import { type Hash, createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, chmod, lstat, open, readFile, readdir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Publisher, Topic } from '../events/events';
import { type GcTrigger, noGc } from '../gc/gc';
import { GcLock } from '../gc/lock';
import type { ContentEntry } from '../gc/mark';
import { KeyedQueue } from '../keyed-queue';
import { CONTENT_PREFIX, contentKey, leaseKey, leaseResourceKey, namespaceKey } from '../layout';
import type { Content, Info, ReadOptions, Status, Writer, WriterOptions } from './content';

/** Read chunk size: containerd's content service reads and sends 1 MiB at a time. */
export const READ_CHUNK = 1 << 20;
export const MAX_REF_BYTES = 4096;

const DIGEST_PATTERN = /^sha256:[a-f0-9]{64}$/;

export function validateDigest(digest: string): string {
  if (!DIGEST_PATTERN.test(digest)) throw invalidArgument(`digest "${digest.slice(0, 80)}" is not valid: expected sha256:<64 hex digits>`);
  return digest;
}

function validateRef(ref: string): string {
  if (!ref) throw invalidArgument('ingest ref must not be empty');
  if (Buffer.byteLength(ref) > MAX_REF_BYTES)
    throw invalidArgument(`ingest ref "${ref.slice(0, 64)}…" is longer than ${MAX_REF_BYTES} bytes`);
  return ref;
}

function validateSize(value: number | undefined, what: string): number {
  const n = value ?? 0;
  if (!Number.isSafeInteger(n) || n < 0) throw invalidArgument(`${what} ${value} must be a non-negative integer`);
  return n;
}

interface BlobRecord {
  size: number;
  labels: Record<string, string>;
  created: string;
  updated: string;
}

interface IngestMeta {
  namespace: string;
  ref: string;
  total: number;
  expected: string;
  startedAt: string;
  /** The lease the last writer was opened under; absent: none (the ingest expires instead). */
  lease?: string;
}

/** An ingest as the collector sees it. */
export interface IngestInfo {
  key: string;
  namespace: string;
  ref: string;
  lease?: string;
  updatedAt: Date;
  size: number;
}

export interface ContentStoreOptions {
  lock?: GcLock;
  gc?: GcTrigger;
  publisher?: Publisher;
}

const toInfo = (digest: string, r: BlobRecord): Info => ({
  digest,
  size: r.size,
  createdAt: new Date(r.created),
  updatedAt: new Date(r.updated),
  labels: r.labels,
});

const errno = (err: unknown): string | undefined => (err as NodeJS.ErrnoException).code;

export class ContentStore {
  /** The open writer of each ingest key (one at a time: the ref's lock). */
  private readonly active = new Map<string, IngestWriter>();
  /** namespace -> digest -> record, as in the database. */
  private readonly records = new Map<string, Map<string, BlobRecord>>();
  /** Commits and deletes of one digest never interleave. */
  readonly digestQueue = new KeyedQueue();
  /** Writer calls, aborts and commits of one ingest never interleave. */
  readonly ingestQueue = new KeyedQueue();

  readonly lock: GcLock;
  private readonly gc: GcTrigger;
  /** Announces deletes (/content/delete) when set; collections are not announced, as in containerd. */
  private readonly publisher: Publisher | undefined;

  private constructor(
    readonly db: Database,
    readonly root: string,
    options: ContentStoreOptions,
  ) {
    this.lock = options.lock ?? new GcLock();
    this.gc = options.gc ?? noGc;
    this.publisher = options.publisher;
  }

  static async open(db: Database, root: string, options: ContentStoreOptions = {}): Promise<ContentStore> {
    const store = new ContentStore(db, root, options);
    ensureDir(root, 0o711);
    ensureDir(store.blobDir(), 0o711);
    ensureDir(store.ingestRoot(), 0o700);
    for await (const [key, value] of db.iterator({ gt: CONTENT_PREFIX, lt: `${CONTENT_PREFIX}\xff` })) {
      const [namespace, digest] = key.slice(CONTENT_PREFIX.length).split('/') as [string, string];
      store.index(namespace, digest, value as BlobRecord);
    }
    for (const name of await readdir(store.ingestRoot())) {
      if (name.startsWith('.')) await rm(join(store.ingestRoot(), name), { recursive: true, force: true });
    }
    return store;
  }

  /** The content API as seen from one namespace. */
  namespace(namespace: string): Content {
    return new NamespacedContent(this, validateNamespace(namespace));
  }

  private index(namespace: string, digest: string, record: BlobRecord | undefined): void {
    let inNamespace = this.records.get(namespace);
    if (record) {
      if (!inNamespace) this.records.set(namespace, (inNamespace = new Map()));
      inNamespace.set(digest, record);
    } else if (inNamespace) {
      inNamespace.delete(digest);
      if (inNamespace.size === 0) this.records.delete(namespace);
    }
  }

  /** What a namespace still holds (blobs, ingests), for the namespace store's "in use" check. */
  async inUse(namespace: string): Promise<string | undefined> {
    const blobs = this.records.get(namespace)?.size ?? 0;
    const ingests = (await this.listStatuses(namespace, [])).length;
    const parts = [];
    if (blobs) parts.push(`${blobs} blob${blobs === 1 ? '' : 's'}`);
    if (ingests) parts.push(`${ingests} ingest${ingests === 1 ? '' : 's'}`);
    return parts.length ? parts.join(' and ') : undefined;
  }

  blobDir(): string {
    return join(this.root, 'blobs', 'sha256');
  }

  blobPath(digest: string): string {
    return join(this.blobDir(), digest.slice('sha256:'.length));
  }

  ingestRoot(): string {
    return join(this.root, 'ingest');
  }

  ingestKey(namespace: string, ref: string): string {
    return createHash('sha256').update(`${namespace}\0${ref}`).digest('hex');
  }

  ingestDir(key: string): string {
    return join(this.ingestRoot(), key);
  }

  record(namespace: string, digest: string): BlobRecord | undefined {
    return this.records.get(namespace)?.get(digest);
  }

  mustRecord(namespace: string, digest: string): BlobRecord {
    validateDigest(digest);
    const r = this.record(namespace, digest);
    if (!r) throw notFound(`content ${digest} not found in namespace "${namespace}"`);
    return r;
  }

  async readMeta(key: string): Promise<IngestMeta | undefined> {
    try {
      return JSON.parse(await readFile(join(this.ingestDir(key), 'meta.json'), 'utf8')) as IngestMeta;
    } catch (err) {
      if (errno(err) === 'ENOENT') return undefined;
      throw new EngineError(ErrorKind.Internal, `read ingest ${key}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Writes meta.json atomically (temporary name, fsync, rename). */
  async writeMeta(dir: string, meta: IngestMeta): Promise<void> {
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

  /** Status of an ingest from disk (or from its open writer). */
  async statusOf(key: string, meta: IngestMeta): Promise<Status> {
    const writer = this.active.get(key);
    if (writer?.ready) return writer.currentStatus();
    let offset = 0;
    let updatedAt = new Date(meta.startedAt);
    try {
      const st = await stat(join(this.ingestDir(key), 'data'));
      offset = st.size;
      updatedAt = st.mtime;
    } catch (err) {
      if (errno(err) !== 'ENOENT') throw err;
    }
    return { ref: meta.ref, offset, total: meta.total, expected: meta.expected, startedAt: new Date(meta.startedAt), updatedAt };
  }

  /** Removes an ingest directory in one step (rename to a trash name), then its files. */
  async dropIngest(key: string): Promise<boolean> {
    const trash = join(this.ingestRoot(), `.trash-${key}-${randomBytes(4).toString('hex')}`);
    try {
      await rename(this.ingestDir(key), trash);
    } catch (err) {
      if (errno(err) === 'ENOENT') return false;
      throw err;
    }
    await rm(trash, { recursive: true, force: true });
    return true;
  }

  /** NotFound unless the lease exists in the namespace. */
  async checkLease(namespace: string, lease: string): Promise<void> {
    if ((await this.db.get(leaseKey(namespace, lease))) === undefined)
      throw notFound(`lease "${lease}" not found in namespace "${namespace}"`);
  }

  async openWriter(namespace: string, ref: string, options: WriterOptions): Promise<Writer> {
    validateRef(ref);
    const total = validateSize(options.total, `expected size of ref "${ref}"`);
    const expected = options.expected ? validateDigest(options.expected) : '';
    const lease = options.lease || undefined;
    if (lease) {
      // The lease holds the ingest before it exists (or, as containerd does, the blob the
      // namespace already has, before AlreadyExists is answered).
      await this.lock.shared(async () => {
        await this.checkLease(namespace, lease);
        if (expected && this.record(namespace, expected)) {
          await this.db.put(leaseResourceKey(namespace, lease, 'content', expected), { type: 'content', id: expected });
          throw alreadyExists(`content ${expected} already exists in namespace "${namespace}"`);
        }
        await this.db.put(leaseResourceKey(namespace, lease, 'ingests', ref), { type: 'ingests', id: ref });
      });
    }
    if (expected && this.record(namespace, expected)) throw alreadyExists(`content ${expected} already exists in namespace "${namespace}"`);
    const key = this.ingestKey(namespace, ref);
    if (this.active.has(key)) throw unavailable(`ingest ref "${ref}" is locked: another write to it is in progress`);
    const writer = new IngestWriter(this, namespace, ref, key);
    this.active.set(key, writer);
    try {
      await this.ingestQueue.run(key, () => writer.open(total, expected, lease));
    } catch (err) {
      this.release(key, writer);
      throw err;
    }
    return writer;
  }

  release(key: string, writer: IngestWriter): void {
    if (this.active.get(key) === writer) this.active.delete(key);
  }

  async abort(namespace: string, ref: string): Promise<void> {
    validateRef(ref);
    const key = this.ingestKey(namespace, ref);
    await this.ingestQueue.run(key, async () => {
      await this.active.get(key)?.invalidate('aborted');
      if (!(await this.dropIngest(key))) throw notFound(`ingest ref "${ref}" not found in namespace "${namespace}"`);
    });
  }

  /**
   * Makes verified ingest data a blob of the namespace: the file renamed into blobs/ (unless
   * a whole copy is already there) and fsynced, then the records in one batch.
   */
  async commitData(
    namespace: string,
    digest: string,
    size: number,
    dataPath: string,
    labels: Record<string, string>,
    lease?: { id: string; ref: string },
  ): Promise<Info> {
    // Lock order: the GC lock, then the digest queue (see gc/lock.ts).
    return this.lock.shared(() =>
      this.digestQueue.run(digest, async () => {
        if (lease) await this.checkLease(namespace, lease.id);
        const leaseContent = lease ? leaseResourceKey(namespace, lease.id, 'content', digest) : undefined;
        const leaseIngest = lease ? leaseResourceKey(namespace, lease.id, 'ingests', lease.ref) : undefined;
        if (this.record(namespace, digest)) {
          if (lease) await this.db.batch().put(leaseContent!, { type: 'content', id: digest }).del(leaseIngest!).write();
          throw alreadyExists(`content ${digest} already exists in namespace "${namespace}"`);
        }
        const target = this.blobPath(digest);
        let present = false;
        try {
          present = (await lstat(target)).size === size;
        } catch (err) {
          if (errno(err) !== 'ENOENT') throw err;
        }
        if (!present) {
          await rename(dataPath, target);
          await chmod(target, 0o444);
          await syncDir(this.blobDir());
        }
        const now = new Date().toISOString();
        const record: BlobRecord = { size, labels, created: now, updated: now };
        const batch = this.db.batch().put(contentKey(namespace, digest), record);
        if (lease) batch.put(leaseContent!, { type: 'content', id: digest }).del(leaseIngest!);
        // Using a namespace makes it, as in containerd.
        if ((await this.db.get(namespaceKey(namespace))) === undefined) batch.put(namespaceKey(namespace), { labels: {} });
        await batch.write();
        this.index(namespace, digest, record);
        return toInfo(digest, record);
      }),
    );
  }

  async delete(namespace: string, digest: string): Promise<void> {
    validateDigest(digest);
    this.mustRecord(namespace, digest);
    await this.removeRecord(namespace, digest);
    this.publisher?.publish(namespace, Topic.contentDelete, 'containerd.events.ContentDelete', { digest });
    this.gc.schedule();
  }

  /**
   * Removes a namespace's record of a blob, and the blob file when no namespace has it any
   * more. Answers the bytes freed on disk (0 when the file stays or was already gone);
   * NotFound when there is no such record.
   */
  async removeRecord(namespace: string, digest: string): Promise<{ fileRemoved: boolean; bytes: number }> {
    return this.digestQueue.run(digest, async () => {
      this.mustRecord(namespace, digest);
      await this.db.del(contentKey(namespace, digest));
      this.index(namespace, digest, undefined);
      if (this.heldAnywhere(digest)) return { fileRemoved: false, bytes: 0 };
      return this.unlinkBlob(digest);
    });
  }

  private heldAnywhere(digest: string): boolean {
    for (const inNamespace of this.records.values()) if (inNamespace.has(digest)) return true;
    return false;
  }

  private async unlinkBlob(digest: string): Promise<{ fileRemoved: boolean; bytes: number }> {
    try {
      const { size } = await lstat(this.blobPath(digest));
      await unlink(this.blobPath(digest));
      return { fileRemoved: true, bytes: size };
    } catch (err) {
      if (errno(err) !== 'ENOENT') throw err;
      return { fileRemoved: false, bytes: 0 };
    }
  }

  /** Every record of every namespace, for the collector. */
  allRecords(): ContentEntry[] {
    const out: ContentEntry[] = [];
    for (const [namespace, inNamespace] of this.records) {
      for (const [digest, record] of inNamespace) out.push({ namespace, digest, labels: record.labels });
    }
    return out;
  }

  /** Digests of the blob files on disk that no namespace has a record of. */
  async orphanBlobs(): Promise<string[]> {
    const out: string[] = [];
    for (const name of await readdir(this.blobDir())) {
      const digest = `sha256:${name}`;
      if (DIGEST_PATTERN.test(digest) && !this.heldAnywhere(digest)) out.push(digest);
    }
    return out;
  }

  /**
   * Removes a blob file no record points to, unless a commit has recorded it meanwhile (a
   * commit of the digest holds its queue from the rename to the record).
   */
  async removeOrphanBlob(digest: string): Promise<{ fileRemoved: boolean; bytes: number }> {
    return this.digestQueue.run(digest, async () =>
      this.heldAnywhere(digest) ? { fileRemoved: false, bytes: 0 } : this.unlinkBlob(digest),
    );
  }

  /** Every ingest of every namespace, for the collector. */
  async allIngests(): Promise<IngestInfo[]> {
    const out: IngestInfo[] = [];
    for (const key of await readdir(this.ingestRoot())) {
      if (key.startsWith('.')) continue;
      const info = await this.ingestInfo(key);
      if (info) out.push(info);
    }
    return out;
  }

  private async ingestInfo(key: string): Promise<IngestInfo | undefined> {
    const meta = await this.readMeta(key);
    if (!meta) return undefined;
    try {
      const status = await this.statusOf(key, meta);
      return { key, namespace: meta.namespace, ref: meta.ref, lease: meta.lease, updatedAt: status.updatedAt, size: status.offset };
    } catch (err) {
      if (errno(err) === 'ENOENT') return undefined;
      throw err;
    }
  }

  /**
   * Drops an ingest the collector found unheld, unless it changed since (a writer holds it, it
   * was written to, or reopened under another lease). Answers the bytes freed, or undefined
   * when it stays.
   */
  async removeIngest(seen: IngestInfo): Promise<number | undefined> {
    return this.ingestQueue.run(seen.key, async () => {
      if (this.active.has(seen.key)) return undefined;
      const now = await this.ingestInfo(seen.key);
      if (!now || now.lease !== seen.lease || now.updatedAt.getTime() !== seen.updatedAt.getTime() || now.size !== seen.size)
        return undefined;
      return (await this.dropIngest(seen.key)) ? now.size : undefined;
    });
  }

  async update(namespace: string, info: Pick<Info, 'digest' | 'labels'>, fieldpaths: string[]): Promise<Info> {
    validateDigest(info.digest);
    // Labels make references (gc.ref.*): under the GC lock shared, before the digest queue.
    return this.lock.shared(() =>
      this.digestQueue.run(info.digest, async () => {
        const current = this.mustRecord(namespace, info.digest);
        const labels = validateLabels(applyLabelUpdate(current.labels, info.labels, fieldpaths, `content ${info.digest}`));
        const record: BlobRecord = { ...current, labels, updated: new Date().toISOString() };
        await this.db.put(contentKey(namespace, info.digest), record);
        this.index(namespace, info.digest, record);
        return toInfo(info.digest, record);
      }),
    );
  }

  async *read(namespace: string, digest: string, options: ReadOptions): AsyncGenerator<Buffer, void, undefined> {
    const record = this.mustRecord(namespace, digest);
    const offset = validateSize(options.offset, `read offset of ${digest}`);
    const size = validateSize(options.size, `read size of ${digest}`);
    if (offset > record.size) throw outOfRange(`read of ${digest} at offset ${offset}: past the end of its ${record.size} bytes`);
    const end = size === 0 || offset + size > record.size ? record.size : offset + size;
    if (end === offset) return;
    let fh: FileHandle;
    try {
      fh = await open(this.blobPath(digest), 'r');
    } catch (err) {
      if (errno(err) === 'ENOENT') throw notFound(`content ${digest}: blob file is missing`);
      throw err;
    }
    try {
      for (let at = offset; at < end;) {
        const buffer = Buffer.allocUnsafe(Math.min(READ_CHUNK, end - at));
        let filled = 0;
        while (filled < buffer.length) {
          const { bytesRead } = await fh.read(buffer, filled, buffer.length - filled, at + filled);
          if (bytesRead === 0)
            throw new EngineError(
              ErrorKind.Internal,
              `content ${digest}: blob file ends at ${at + filled}, its record says ${record.size} bytes`,
            );
          filled += bytesRead;
        }
        at += filled;
        yield buffer;
      }
    } finally {
      await fh.close();
    }
  }

  async list(namespace: string, filters: string[]): Promise<Info[]> {
    const filter = parseFilters(filters);
    const out: Info[] = [];
    for (const [digest, record] of [...(this.records.get(namespace) ?? [])].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const info = toInfo(digest, record);
      const match = filter.match((path) => {
        if (path[0] === 'digest') return info.digest;
        if (path[0] === 'labels') return info.labels[path.slice(1).join('.')];
        return undefined;
      });
      if (match) out.push(info);
    }
    return out;
  }

  async status(namespace: string, ref: string): Promise<Status> {
    validateRef(ref);
    const key = this.ingestKey(namespace, ref);
    const meta = await this.readMeta(key);
    if (!meta || meta.namespace !== namespace || meta.ref !== ref)
      throw notFound(`ingest ref "${ref}" not found in namespace "${namespace}"`);
    return this.statusOf(key, meta);
  }

  async listStatuses(namespace: string, filters: string[]): Promise<Status[]> {
    const filter = parseFilters(filters);
    const out: Status[] = [];
    for (const key of (await readdir(this.ingestRoot())).sort()) {
      if (key.startsWith('.')) continue;
      const meta = await this.readMeta(key);
      if (!meta || meta.namespace !== namespace) continue;
      if (!filter.match((path) => (path[0] === 'ref' ? meta.ref : undefined))) continue;
      try {
        out.push(await this.statusOf(key, meta));
      } catch (err) {
        // Committed or aborted while being listed.
        if (errno(err) !== 'ENOENT') throw err;
      }
    }
    return out;
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** An open ingest: the data file, the running digest, the ref's lock. */
class IngestWriter implements Writer {
  private fh: FileHandle | undefined;
  private hash: Hash = createHash('sha256');
  private offset = 0;
  private total = 0;
  private expected = '';
  private lease: string | undefined;
  private startedAt = new Date();
  private updatedAt = new Date();
  /** Why the writer can no longer be used, once it cannot. */
  private ended: string | undefined;
  ready = false;

  constructor(
    private readonly store: ContentStore,
    private readonly namespace: string,
    readonly ref: string,
    private readonly key: string,
  ) {}

  private get dir(): string {
    return this.store.ingestDir(this.key);
  }

  private get dataPath(): string {
    return join(this.dir, 'data');
  }

  /** Creates the ingest, or resumes it: the bytes already written are hashed again. */
  async open(total: number, expected: string, lease: string | undefined): Promise<void> {
    let meta = await this.store.readMeta(this.key);
    if (meta && (meta.namespace !== this.namespace || meta.ref !== this.ref)) {
      throw new EngineError(
        ErrorKind.Internal,
        `ingest ${this.key} belongs to ref "${meta.ref}" in "${meta.namespace}", not "${this.ref}" in "${this.namespace}"`,
      );
    }
    if (!meta) {
      meta = {
        namespace: this.namespace,
        ref: this.ref,
        total,
        expected,
        startedAt: new Date().toISOString(),
        ...(lease ? { lease } : {}),
      };
      const tmp = join(this.store.ingestRoot(), `.tmp-${this.key}-${randomBytes(4).toString('hex')}`);
      ensureDir(tmp, 0o700);
      try {
        await this.store.writeMeta(tmp, meta);
        await writeFile(join(tmp, 'data'), '', { mode: 0o600 });
        await rename(tmp, this.dir);
      } catch (err) {
        await rm(tmp, { recursive: true, force: true });
        throw err;
      }
    } else if ((total > 0 && total !== meta.total) || (expected && expected !== meta.expected) || lease !== meta.lease) {
      // The latest expectations given win, as with containerd's Write; so does the lease (an
      // ingest resumed without one expires like any unleased ingest).
      const { lease: _old, ...rest } = meta;
      meta = { ...rest, total: total > 0 ? total : meta.total, expected: expected || meta.expected, ...(lease ? { lease } : {}) };
      await this.store.writeMeta(this.dir, meta);
    }
    this.lease = lease;
    this.total = meta.total;
    this.expected = meta.expected;
    this.startedAt = new Date(meta.startedAt);
    // A crash between a commit's rename and its record leaves the ingest without data.
    this.fh = await open(this.dataPath, constants.O_RDWR | constants.O_CREAT, 0o600);
    try {
      const st = await this.fh.stat();
      this.updatedAt = st.mtime;
      for await (const chunk of this.fh.createReadStream({ start: 0, highWaterMark: READ_CHUNK, autoClose: false })) {
        this.hash.update(chunk as Buffer);
        this.offset += (chunk as Buffer).length;
      }
    } catch (err) {
      await this.fh.close();
      this.fh = undefined;
      throw err;
    }
    this.ready = true;
  }

  private check(): FileHandle {
    if (this.ended || !this.fh) throw failedPrecondition(`writer of ingest ref "${this.ref}" is ${this.ended ?? 'closed'}`);
    return this.fh;
  }

  currentStatus(): Status {
    return {
      ref: this.ref,
      offset: this.offset,
      total: this.total,
      expected: this.expected,
      startedAt: this.startedAt,
      updatedAt: this.updatedAt,
    };
  }

  async status(): Promise<Status> {
    this.check();
    return this.currentStatus();
  }

  async digest(): Promise<string> {
    this.check();
    return `sha256:${this.hash.copy().digest('hex')}`;
  }

  write(data: Uint8Array, offset?: number): Promise<number> {
    return this.store.ingestQueue.run(this.key, async () => {
      const fh = this.check();
      try {
        return await this.writeAt(fh, data, offset);
      } catch (err) {
        await this.end('closed after a failed write');
        throw err;
      }
    });
  }

  private async writeAt(fh: FileHandle, data: Uint8Array, offset: number | undefined): Promise<number> {
    if (offset !== undefined && offset !== this.offset) {
      if (offset !== 0) {
        throw outOfRange(
          `write to ingest ref "${this.ref}" at offset ${offset}: writes continue at the current offset ${this.offset} or restart at 0`,
        );
      }
      await fh.truncate(0);
      this.hash = createHash('sha256');
      this.offset = 0;
    }
    // The file write runs on libuv's threads while this thread hashes the same bytes. If the
    // write fails the writer ends, and the next one hashes what reached the file.
    const written = (async () => {
      for (let done = 0; done < data.length;) {
        done += (await fh.write(data, done, data.length - done, this.offset + done)).bytesWritten;
      }
    })();
    this.hash.update(data);
    await written;
    this.offset += data.length;
    this.updatedAt = new Date();
    return this.offset;
  }

  commit(size?: number, expected?: string, labels: Record<string, string> = {}): Promise<string> {
    return this.store.ingestQueue.run(this.key, async () => {
      const fh = this.check();
      let outcome = 'closed after a failed commit';
      try {
        const wantSize = validateSize(size, `commit size of ref "${this.ref}"`) || this.total;
        const wantDigest = expected ? validateDigest(expected) : this.expected;
        const validLabels = validateLabels(labels);
        if (wantSize > 0 && wantSize !== this.offset) {
          throw failedPrecondition(`commit of ingest ref "${this.ref}": it has ${this.offset} bytes, expected ${wantSize}`);
        }
        const actual = `sha256:${this.hash.copy().digest('hex')}`;
        if (wantDigest && wantDigest !== actual) {
          throw failedPrecondition(`commit of ingest ref "${this.ref}": its digest is ${actual}, expected ${wantDigest}`);
        }
        await fh.sync();
        await this.closeFile();
        try {
          await this.store.commitData(
            this.namespace,
            actual,
            this.offset,
            this.dataPath,
            validLabels,
            this.lease ? { id: this.lease, ref: this.ref } : undefined,
          );
        } catch (err) {
          // containerd drops the ingest when the namespace already has the blob.
          if (err instanceof EngineError && err.kind === ErrorKind.AlreadyExists) await this.store.dropIngest(this.key);
          throw err;
        }
        await this.store.dropIngest(this.key);
        outcome = 'committed';
        return actual;
      } finally {
        await this.end(outcome);
      }
    });
  }

  private async closeFile(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close();
  }

  private async end(why: string): Promise<void> {
    this.ended ??= why;
    await this.closeFile();
    this.store.release(this.key, this);
  }

  /** Ends the writer because its ingest is going away under it (Abort from elsewhere). */
  async invalidate(why: string): Promise<void> {
    await this.end(why);
  }

  close(): Promise<void> {
    return this.store.ingestQueue.run(this.key, async () => {
      if (this.fh) await this.fh.sync();
      await this.end('closed');
    });
  }

  async abort(): Promise<void> {
    await this.close();
    await this.store.abort(this.namespace, this.ref);
  }
}

class NamespacedContent implements Content {
  constructor(
    private readonly store: ContentStore,
    readonly namespace: string,
  ) {}

  async info(digest: string): Promise<Info> {
    return toInfo(digest, this.store.mustRecord(this.namespace, digest));
  }

  update(info: Pick<Info, 'digest' | 'labels'>, fieldpaths: string[] = []): Promise<Info> {
    return this.store.update(this.namespace, info, fieldpaths);
  }

  list(filters: string[] = []): Promise<Info[]> {
    return this.store.list(this.namespace, filters);
  }

  delete(digest: string): Promise<void> {
    return this.store.delete(this.namespace, digest);
  }

  read(digest: string, options: ReadOptions = {}): AsyncIterable<Buffer> {
    return this.store.read(this.namespace, digest, options);
  }

  status(ref: string): Promise<Status> {
    return this.store.status(this.namespace, ref);
  }

  listStatuses(filters: string[] = []): Promise<Status[]> {
    return this.store.listStatuses(this.namespace, filters);
  }

  writer(ref: string, options: WriterOptions = {}): Promise<Writer> {
    return this.store.openWriter(this.namespace, ref, options);
  }

  abort(ref: string): Promise<void> {
    return this.store.abort(this.namespace, ref);
  }
}
