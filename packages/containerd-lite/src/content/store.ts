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
  readRecord,
  EngineError,
  ErrorKind,
  alreadyExists,
  ensureDir,
  notFound,
  outOfRange,
  unavailable,
  validateNamespace,
  inBatches,
} from '@ctl/proto';
import { parseFilters } from '@ctl/proto/filters';
import { epochNanos, now, parseTime } from '@ctl/proto/time';
import { applyLabelUpdate, validateLabels } from '@ctl/proto/labels';
import { type FileHandle, chmod, lstat, open, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { type Publisher, Topic } from '../events/events';
import { type GcTrigger, noGc } from '../gc/gc';
import { GcLock } from '../gc/lock';
import type { ContentEntry } from '../gc/mark';
import { KeyedQueue } from '@ctl/proto/keyed-queue';
import { CONTENT_PREFIX, contentKey, leaseKey, leaseResourceKey, namespaceKey } from '../layout';
import type { Content, Info, ReadOptions, Status, Writer, WriterOptions } from './content';
import {
  DIGEST_PATTERN,
  type IngestMeta,
  IngestArea,
  READ_CHUNK,
  errno,
  ingestKey,
  syncDir,
  validateDigest,
  validateRef,
  validateSize,
} from './ingests';
import { NamespacedContent } from './namespaced';
import { IngestWriter, type VerifiedData, type WriterStore } from './writer';

interface BlobRecord {
  size: number;
  labels: Record<string, string>;
  created: string;
  updated: string;
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
  /** Called after a delete (a debounced collection). */
  gc?: GcTrigger;
  /** Announces deletes (/content/delete); collections are not announced, as in containerd. */
  publisher?: Publisher;
}

const toInfo = (digest: string, r: BlobRecord): Info => ({
  digest,
  size: r.size,
  createdAt: parseTime(r.created),
  updatedAt: parseTime(r.updated),
  labels: r.labels,
});

export class ContentStore {
  /** The open writer of each ingest key (one at a time: the ref's lock). */
  private readonly active = new Map<string, IngestWriter>();
  /** namespace -> digest -> record, as in the database. */
  private readonly records = new Map<string, Map<string, BlobRecord>>();
  /** Commits and deletes of one digest never interleave. */
  private readonly digestQueue = new KeyedQueue();
  /** Writer calls, aborts and commits of one ingest never interleave. */
  private readonly ingestQueue = new KeyedQueue();
  private readonly ingests: IngestArea;
  private readonly lock: GcLock;
  private readonly gc: GcTrigger;
  private readonly publisher: Publisher | undefined;
  /** What the writers may do to the store (see writer.ts). */
  private readonly writerStore: WriterStore = {
    queue: this.ingestQueue,
    commitData: (data) => this.commitData(data),
    release: (writer) => {
      if (this.active.get(writer.key) === writer) this.active.delete(writer.key);
    },
    abort: (namespace, ref) => this.abort(namespace, ref),
  };

  private constructor(
    private readonly db: Database,
    readonly root: string,
    options: ContentStoreOptions,
  ) {
    this.lock = options.lock ?? new GcLock();
    this.gc = options.gc ?? noGc;
    this.publisher = options.publisher;
    this.ingests = new IngestArea(join(root, 'ingest'));
  }

  static async open(db: Database, root: string, options: ContentStoreOptions = {}): Promise<ContentStore> {
    const store = new ContentStore(db, root, options);
    ensureDir(root, 0o711);
    ensureDir(store.blobDir(), 0o711);
    for await (const [key, value] of inBatches(db.iterator({ gt: CONTENT_PREFIX, lt: `${CONTENT_PREFIX}\xff` }))) {
      const [namespace, digest] = key.slice(CONTENT_PREFIX.length).split('/') as [string, string];
      store.index(namespace, digest, value as BlobRecord);
    }
    await store.ingests.open();
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

  async info(namespace: string, digest: string): Promise<Info> {
    return toInfo(digest, this.mustRecord(namespace, digest));
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

  private record(namespace: string, digest: string): BlobRecord | undefined {
    return this.records.get(namespace)?.get(digest);
  }

  /** The record of a blob in a namespace; NotFound when there is none. */
  private mustRecord(namespace: string, digest: string): BlobRecord {
    validateDigest(digest);
    const r = this.record(namespace, digest);
    if (!r) throw notFound(`content ${digest} not found in namespace "${namespace}"`);
    return r;
  }

  /** Status of an ingest from disk (or from its open writer). */
  private async statusOf(key: string, meta: IngestMeta): Promise<Status> {
    const writer = this.active.get(key);
    if (writer?.ready) return writer.currentStatus();
    return this.ingests.status(key, meta);
  }

  /** NotFound unless the lease exists in the namespace. */
  private async checkLease(namespace: string, lease: string): Promise<void> {
    if (readRecord(this.db, leaseKey(namespace, lease)) === undefined)
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
    const key = ingestKey(namespace, ref);
    if (this.active.has(key)) throw unavailable(`ingest ref "${ref}" is locked: another write to it is in progress`);
    const writer = new IngestWriter(this.ingests, this.writerStore, namespace, ref);
    this.active.set(key, writer);
    try {
      await this.ingestQueue.run(key, () => writer.open(total, expected, lease));
    } catch (err) {
      this.writerStore.release(writer);
      throw err;
    }
    return writer;
  }

  async abort(namespace: string, ref: string): Promise<void> {
    validateRef(ref);
    const key = ingestKey(namespace, ref);
    await this.ingestQueue.run(key, async () => {
      await this.active.get(key)?.invalidate('aborted');
      if (!(await this.ingests.drop(key))) throw notFound(`ingest ref "${ref}" not found in namespace "${namespace}"`);
    });
  }

  /**
   * Makes verified ingest data a blob of the namespace: the file renamed into blobs/ (unless
   * a whole copy is already there) and fsynced, then the records in one batch.
   */
  private async commitData({ namespace, digest, size, dataPath, labels, lease }: VerifiedData): Promise<Info> {
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
        const stamp = now().toISOString();
        const record: BlobRecord = { size, labels, created: stamp, updated: stamp };
        const batch = this.db.batch().put(contentKey(namespace, digest), record);
        if (lease) batch.put(leaseContent!, { type: 'content', id: digest }).del(leaseIngest!);
        // Using a namespace makes it, as in containerd.
        if (readRecord(this.db, namespaceKey(namespace)) === undefined) batch.put(namespaceKey(namespace), { labels: {} });
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
    for (const key of await this.ingests.keys()) {
      const info = await this.ingestInfo(key);
      if (info) out.push(info);
    }
    return out;
  }

  private async ingestInfo(key: string): Promise<IngestInfo | undefined> {
    const meta = await this.ingests.readMeta(key);
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
      const latest = await this.ingestInfo(seen.key);
      if (
        !latest ||
        latest.lease !== seen.lease ||
        epochNanos(latest.updatedAt) !== epochNanos(seen.updatedAt) ||
        latest.size !== seen.size
      )
        return undefined;
      return (await this.ingests.drop(seen.key)) ? latest.size : undefined;
    });
  }

  async update(namespace: string, info: Pick<Info, 'digest' | 'labels'>, fieldpaths: string[]): Promise<Info> {
    validateDigest(info.digest);
    // Labels make references (gc.ref.*): under the GC lock shared, before the digest queue.
    return this.lock.shared(() =>
      this.digestQueue.run(info.digest, async () => {
        const current = this.mustRecord(namespace, info.digest);
        const labels = validateLabels(applyLabelUpdate(current.labels, info.labels, fieldpaths, `content ${info.digest}`));
        const record: BlobRecord = { ...current, labels, updated: now().toISOString() };
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
    const key = ingestKey(namespace, ref);
    const meta = await this.ingests.readMeta(key);
    if (!meta || meta.namespace !== namespace || meta.ref !== ref)
      throw notFound(`ingest ref "${ref}" not found in namespace "${namespace}"`);
    return this.statusOf(key, meta);
  }

  async listStatuses(namespace: string, filters: string[]): Promise<Status[]> {
    const filter = parseFilters(filters);
    const out: Status[] = [];
    for (const key of await this.ingests.keys()) {
      const meta = await this.ingests.readMeta(key);
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
