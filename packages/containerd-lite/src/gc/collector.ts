/**
 * The garbage collector: mark and sweep over every namespace of containerd-lite's metadata,
 * its content store and the snapshots it made in the snapshotters it recorded.
 *
 * One collection:
 * 1. Under the GC lock exclusive (see lock.ts): list the snapshots of every recorded
 *    snapshotter, read all records (content, images, leases with their resources) and the
 *    roots other components register, mark (mark.ts), then sweep the metadata: expired
 *    leases with their resources, content records nothing reaches (the blob file goes with
 *    the last record of its digest), and snapshots of ours nothing reaches, children first.
 *    Blob files that no record names (a crash between the rename into blobs/ and the record)
 *    and ingests due for removal are listed here too.
 * 2. After the lock: remove those orphan blob files and ingests, each re-checked under its
 *    digest or ingest queue (a commit may have claimed the file, a writer the ingest).
 *
 * Snapshots: containerd-lite names the snapshots it makes `<namespace>/<key>` (key without
 * '/'); only such names, of a namespace containerd-lite knows, in a snapshotter recorded
 * under `snapshotter/<name>` (recordSnapshotter, called before the first Prepare there),
 * are ever removed. Everything else in a snapshotter is someone else's and only keeps its
 * parents. Whoever makes a snapshot must make it reachable first: add it to a lease (the
 * unpacker: both the active key and the committed name, before Prepare and Commit) or a label.
 * An unreachable snapshotter is logged and reported; the content part runs all the same (so
 * content that only a snapshot label references is not protected while that snapshotter is
 * down).
 *
 * Ingests (containerd's rule): an ingest written under a lease
 * lives as long as the lease (it goes at the first collection after the lease is deleted or
 * expires); one written without a lease goes once it has not been written to for
 * `ingestExpiryMs` (24 hours by default; containerd sets a fixed 24 hours from the writer's
 * open, here it counts from the last write, so a slow but live upload is never cut off). An
 * ingest that a writer holds open is never removed.
 *
 * Scheduling: `schedule()` (after deletes) runs a collection `delayMs` after the last call;
 * collections never overlap; `collect()` runs one as soon as the one in progress ends (a call
 * while one is already queued shares it).
 */
import { type Database, readRecord, ErrorKind, type Logger, isKind, inBatches } from '@ctl/proto';
import type { Cleaner, Snapshotter } from '@ctl/snapshotter/client';
import type { ContentStore, IngestInfo } from '../content/store';
import type { ImageStore } from '../images/store';
import { NAMESPACE_PREFIX, SNAPSHOTTER_PREFIX, snapshotterKey, under } from '../layout';
import type { LeaseStore } from '../leases/store';
import { type CollectResult, type GarbageCollector, type GcRoot, type GcTrigger, type RootsProvider, emptyResult } from './gc';
import type { GcLock } from './lock';
import type { Inventory } from '../system/check';
import { existsSync } from 'node:fs';
import { type SnapshotEntry, contentNode, ingestNode, mark, removalOrder, snapshotName, snapshotNamespace, snapshotNode } from './mark';

export const DEFAULT_INGEST_EXPIRY_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_GC_DELAY_MS = 200;
export const DEFAULT_SNAPSHOTTER_TIMEOUT_MS = 10_000;

export type SnapshotterFactory = (name: string) => Snapshotter & Partial<Cleaner>;

export interface CollectorOptions {
  db: Database;
  lock: GcLock;
  content: ContentStore;
  images: ImageStore;
  leases: LeaseStore;
  logger: Logger;
  /** The snapshotter client for a name (containerd-lite's: the snapshotter service's socket). */
  snapshotter?: SnapshotterFactory;
  ingestExpiryMs?: number;
  delayMs?: number;
  /** Bound on each call to a snapshotter, so an unresponsive one cannot hold the lock long. */
  snapshotterTimeoutMs?: number;
}

function withTimeout<T>(what: string, ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

export class Collector implements GarbageCollector, GcTrigger {
  private readonly roots: RootsProvider[] = [];
  private readonly snapshotters = new Map<string, Snapshotter & Partial<Cleaner>>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private queued: Promise<CollectResult> | undefined;
  private closed = false;
  readonly ingestExpiryMs: number;
  readonly delayMs: number;
  readonly snapshotterTimeoutMs: number;

  constructor(private readonly options: CollectorOptions) {
    this.ingestExpiryMs = options.ingestExpiryMs ?? DEFAULT_INGEST_EXPIRY_MS;
    this.delayMs = options.delayMs ?? DEFAULT_GC_DELAY_MS;
    this.snapshotterTimeoutMs = options.snapshotterTimeoutMs ?? DEFAULT_SNAPSHOTTER_TIMEOUT_MS;
  }

  /** Adds roots at every collection (containers: their snapshot, image content). */
  registerRoots(provider: RootsProvider): void {
    this.roots.push(provider);
  }

  /**
   * Records that containerd-lite makes snapshots in this snapshotter, so that collections
   * sweep it. Call it before the first Prepare there (idempotent, cheap).
   */
  private readonly recorded = new Set<string>();

  async recordSnapshotter(name: string): Promise<void> {
    if (!name || name.includes('/')) throw new Error(`snapshotter name "${name}" must be non-empty and without '/'`);
    // Every unpack and container creation asks: answer from memory once the record is there.
    if (this.recorded.has(name)) return;
    if (readRecord(this.options.db, snapshotterKey(name)) === undefined)
      await this.options.db.put(snapshotterKey(name), { recorded: new Date().toISOString() });
    this.recorded.add(name);
  }

  /** The snapshotters recorded so far. */
  async recordedSnapshotters(): Promise<string[]> {
    const out: string[] = [];
    for await (const key of inBatches(this.options.db.keys(under(SNAPSHOTTER_PREFIX)))) out.push(key.slice(SNAPSHOTTER_PREFIX.length));
    return out;
  }

  /**
   * The snapshots of ours a namespace still has in the recorded snapshotters, for the
   * namespace store's "in use" check (once the namespace is gone they would be nobody's). A
   * snapshotter that cannot be asked is skipped with a warning.
   */
  async snapshotsInUse(namespace: string): Promise<string | undefined> {
    const { snapshots, failures } = await this.allSnapshots(new Set([namespace]));
    for (const [name, err] of failures) {
      this.options.logger.warn('snapshotter not asked whether a namespace is in use', { snapshotter: name, namespace, error: err.message });
    }
    const n = snapshots.filter((s) => s.namespace !== undefined).length;
    return n ? `${n} snapshot${n === 1 ? '' : 's'}` : undefined;
  }

  schedule(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.collect().catch((err: unknown) => this.options.logger.error('garbage collection failed', { error: (err as Error).message }));
    }, this.delayMs);
    this.timer.unref();
  }

  collect(): Promise<CollectResult> {
    if (this.queued) return this.queued;
    const next = this.running.then(() => {
      this.queued = undefined;
      return this.collectOnce();
    });
    this.queued = next;
    this.running = next.catch(() => undefined);
    return next;
  }

  /** Stops scheduling and waits for the collection in progress. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /**
   * What `ctl system check` judges (system/check.ts), taken under the lock shared so that no
   * collection runs meanwhile: content records, images, every recorded snapshotter's snapshots,
   * what containers hold.
   */
  async inventory(): Promise<Inventory> {
    const { db, lock, content, images } = this.options;
    return lock.shared(async () => {
      const namespaces = new Set<string>();
      for await (const key of inBatches(db.keys(under(NAMESPACE_PREFIX)))) namespaces.add(key.slice(NAMESPACE_PREFIX.length));
      const { snapshots, failures } = await this.allSnapshots(namespaces);
      const unreachable = failures.map(([name]) => name);
      const containerRoots: GcRoot[] = [];
      for (const provider of this.roots) containerRoots.push(...(await provider()));
      return {
        content: content.allRecords(),
        blobPresent: (digest: string) => existsSync(content.blobPath(digest)),
        images: await images.all(),
        snapshots,
        unreachable,
        containerRoots,
      };
    });
  }

  /**
   * Every recorded snapshotter's snapshots (a snapshotter's only when its whole walk answered
   * in time), with the namespace of those containerd-lite made among `namespaces`.
   */
  private async allSnapshots(
    namespaces: ReadonlySet<string>,
  ): Promise<{ snapshots: SnapshotEntry[]; answered: string[]; failures: [string, Error][] }> {
    const snapshots: SnapshotEntry[] = [];
    const answered: string[] = [];
    const failures: [string, Error][] = [];
    for (const name of await this.recordedSnapshotters()) {
      const found: SnapshotEntry[] = [];
      try {
        await withTimeout(
          `list snapshots of "${name}"`,
          this.snapshotterTimeoutMs,
          this.client(name).walk((info) => {
            const namespace = snapshotNamespace(info.name, namespaces);
            found.push({ snapshotter: name, name: info.name, parent: info.parent, labels: info.labels, namespace });
          }),
        );
        snapshots.push(...found);
        answered.push(name);
      } catch (err) {
        failures.push([name, err as Error]);
      }
    }
    return { snapshots, answered, failures };
  }

  private client(name: string): Snapshotter & Partial<Cleaner> {
    let client = this.snapshotters.get(name);
    if (!client) {
      if (!this.options.snapshotter) throw new Error('no snapshotter client configured');
      client = this.options.snapshotter(name);
      this.snapshotters.set(name, client);
    }
    return client;
  }

  private async rootNodes(): Promise<string[]> {
    const out: string[] = [];
    const node = (r: GcRoot): string =>
      r.type === 'content' ? contentNode(r.namespace, r.digest) : snapshotNode(r.snapshotter, snapshotName(r.namespace, r.key));
    for (const provider of this.roots) for (const root of await provider()) out.push(node(root));
    return out;
  }

  private async collectOnce(): Promise<CollectResult> {
    const started = Date.now();
    const result = emptyResult();
    const { db, lock, content, images, leases, logger } = this.options;
    const timeout = this.snapshotterTimeoutMs;
    let orphans: string[] = [];
    let ingests: IngestInfo[] = [];

    await lock.exclusive(async () => {
      const namespaces = new Set<string>();
      for await (const key of inBatches(db.keys(under(NAMESPACE_PREFIX)))) namespaces.add(key.slice(NAMESPACE_PREFIX.length));

      const { snapshots, answered: reachable, failures } = await this.allSnapshots(namespaces);
      for (const [name, err] of failures) result.errors.push(`snapshotter "${name}": ${err.message}`);

      const { leases: leaseEntries, dangling } = await leases.all();
      const now = new Date();
      const { marked, expired } = mark({
        now,
        content: content.allRecords(),
        images: await images.all(),
        leases: leaseEntries,
        snapshots,
        roots: await this.rootNodes(),
      });

      await leases.remove(expired, dangling);
      result.leasesRemoved = expired.length;

      for (const c of content.allRecords()) {
        if (marked.has(contentNode(c.namespace, c.digest))) continue;
        try {
          const { fileRemoved, bytes } = await content.removeRecord(c.namespace, c.digest);
          result.contentRemoved++;
          if (fileRemoved) result.blobsRemoved++;
          result.bytesFreed += bytes;
        } catch (err) {
          // Deleted by its namespace meanwhile.
          if (!isKind(err, ErrorKind.NotFound)) throw err;
        }
      }

      const unreached = snapshots.filter((s) => s.namespace !== undefined && !marked.has(snapshotNode(s.snapshotter, s.name)));
      for (const name of reachable) {
        const client = this.client(name);
        let removed = 0;
        for (const s of removalOrder(unreached.filter((u) => u.snapshotter === name))) {
          try {
            await withTimeout(`remove snapshot "${s.name}" of "${name}"`, timeout, client.remove(s.name));
            removed++;
          } catch (err) {
            // Gone already, or a child appeared that is not ours: skipped, as containerd does.
            if (isKind(err, ErrorKind.NotFound) || isKind(err, ErrorKind.FailedPrecondition)) {
              logger.warn('snapshot not removed', { snapshotter: name, snapshot: s.name, error: (err as Error).message });
            } else {
              result.errors.push(`snapshotter "${name}": remove "${s.name}": ${(err as Error).message}`);
              break;
            }
          }
        }
        result.snapshotsRemoved += removed;
        if (removed && client.cleanup) {
          try {
            await withTimeout(`clean up "${name}"`, timeout, client.cleanup());
          } catch (err) {
            if (!isKind(err, ErrorKind.NotImplemented))
              logger.warn('snapshotter cleanup failed', { snapshotter: name, error: (err as Error).message });
          }
        }
      }

      orphans = await content.orphanBlobs();
      ingests = (await content.allIngests()).filter((i) => {
        if (marked.has(ingestNode(i.namespace, i.ref))) return false;
        // Written under a lease that is gone or expired; or unleased and stale.
        return i.lease !== undefined || now.getTime() - i.updatedAt.getTime() > this.ingestExpiryMs;
      });
    });

    for (const digest of orphans) {
      const { fileRemoved, bytes } = await content.removeOrphanBlob(digest);
      if (fileRemoved) {
        result.blobsRemoved++;
        result.bytesFreed += bytes;
      }
    }
    for (const ingest of ingests) {
      const bytes = await content.removeIngest(ingest);
      if (bytes !== undefined) {
        result.ingestsRemoved++;
        result.bytesFreed += bytes;
      }
    }

    result.durationMs = Date.now() - started;
    for (const error of result.errors) logger.warn('garbage collection incomplete', { error });
    logger.info('garbage collected', { ...result, errors: result.errors.length });
    return result;
  }
}
