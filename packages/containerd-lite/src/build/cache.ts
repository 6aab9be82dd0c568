/**
 * The build cache: for each step that ran, the state it left (an image manifest in content and
 * the snapshot of its top layer), under the step's cache key (see `cacheKey`). A record lives in
 * containerd-lite's database (`build-cache/<ns>/<key>`, layout.ts) and holds what it needs by a
 * lease of its own, `build-cache-<key>`, labelled BUILD_CACHE_LABEL: the garbage collector keeps
 * its manifest (and through the manifest's GC labels the config and layers) and its snapshot,
 * and `ctr leases ls` shows it. Prune deletes records with their leases; what they held goes at
 * the next collection unless an image holds it too.
 *
 * The lease is made before the record and removed after it, so a crash between the two leaves
 * at most a lease without a record, which the next prune sweeps.
 */
import { type Database, readRecord, inBatches } from '@ctl/proto';
import { ErrorKind, found, isKind } from '@ctl/proto/errors';
import { KeyedQueue } from '@ctl/proto/keyed-queue';
import { createHash } from 'node:crypto';
import type { Content } from '../content/content';
import { BUILD_CACHE_PREFIX, buildCacheKey, namespaceKey, under } from '../layout';
import type { Leases } from '../leases/leases';
import type { Descriptor } from '../oci';

/** On every build cache lease (value: the record's key). */
export const BUILD_CACHE_LABEL = 'ctl.build-cache';
const DESCRIPTION_LABEL = 'ctl.build-cache.step';

/** The state a step left. */
export interface CachedState {
  /** The state's image (config and layers), held by the record's lease. */
  manifest: Descriptor;
  /** The chain id of its top layer ("" for none). */
  chainId: string;
  /** The snapshotter its snapshot was made in. */
  snapshotter: string;
}

export interface CacheRecord extends CachedState {
  key: string;
  /** the instruction, as the progress shows it */
  description: string;
  /** bytes of the layer the step made, 0 for none */
  size: number;
  createdAt: Date;
  lastUsedAt: Date;
}

interface StoredRecord {
  description: string;
  manifest: Descriptor;
  chainId: string;
  snapshotter: string;
  size: number;
  lease: string;
  created: string;
  lastUsed: string;
}

/** A step's cache key: sha256 of its parts, each as JSON (so no two part lists give one string). */
export function cacheKey(parts: readonly unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

const leaseId = (key: string): string => `build-cache-${key}`;

/** How finely a record's last use is noted. */
const LAST_USED_RESOLUTION_MS = 60_000;

export interface PruneOptions {
  all: boolean;
  /** Without all: records not used for this long go. */
  keepDurationMs: number;
}

export class BuildCache {
  private readonly queue = new KeyedQueue();

  constructor(
    private readonly db: Database,
    private readonly deps: { leases(ns: string): Leases; content(ns: string): Content },
  ) {}

  private async read(ns: string, key: string): Promise<StoredRecord | undefined> {
    return readRecord(this.db, buildCacheKey(ns, key)) as StoredRecord | undefined;
  }

  /**
   * The state recorded under key, its use noted; undefined when there is none or when what it
   * held is gone (its lease removed by hand): then the record goes too.
   */
  async get(ns: string, key: string): Promise<CacheRecord | undefined> {
    return this.queue.run(`${ns}/${key}`, async () => {
      const r = await this.read(ns, key);
      if (!r) return undefined;
      const leases = this.deps.leases(ns);
      const held = await leases.listResources(r.lease).catch((err: unknown) => {
        if (isKind(err, ErrorKind.NotFound)) return undefined;
        throw err;
      });
      if (!held || !(await found(this.deps.content(ns).info(r.manifest.digest)))) {
        await this.db.del(buildCacheKey(ns, key));
        if (held) await leases.delete(r.lease).catch(() => undefined);
        return undefined;
      }
      // Noted to the minute: a rebuild takes each of its steps from here, and prune's
      // keep-duration is not that fine; a write per step would cost more than the step.
      if (Date.now() - Date.parse(r.lastUsed) < LAST_USED_RESOLUTION_MS) return toRecord(key, r);
      const used: StoredRecord = { ...r, lastUsed: new Date().toISOString() };
      await this.db.put(buildCacheKey(ns, key), used);
      return toRecord(key, used);
    });
  }

  /** Records (or replaces) the state under key; its lease holds the manifest and the snapshot. */
  async put(ns: string, key: string, state: CachedState & { description: string; size: number }): Promise<void> {
    await this.queue.run(`${ns}/${key}`, async () => {
      const leases = this.deps.leases(ns);
      const id = leaseId(key);
      if (await this.holds(ns, key, state)) return;
      const labels = { [BUILD_CACHE_LABEL]: key, [DESCRIPTION_LABEL]: state.description.slice(0, 256) };
      await leases.create({ id, labels }).catch((err: unknown) => {
        if (!isKind(err, ErrorKind.AlreadyExists)) throw err;
      });
      // A replaced record's lease may hold another manifest: it holds only this one now.
      for (const old of await leases.listResources(id)) await leases.deleteResource(id, old);
      await leases.addResource(id, { type: 'content', id: state.manifest.digest });
      if (state.chainId) await leases.addResource(id, { type: `snapshots/${state.snapshotter}`, id: state.chainId });
      const now = new Date().toISOString();
      const previous = await this.read(ns, key);
      const record: StoredRecord = {
        description: state.description,
        manifest: state.manifest,
        chainId: state.chainId,
        snapshotter: state.snapshotter,
        size: state.size,
        lease: id,
        created: previous?.created ?? now,
        lastUsed: now,
      };
      const batch = this.db.batch();
      if (readRecord(this.db, namespaceKey(ns)) === undefined) batch.put(namespaceKey(ns), { labels: {} });
      batch.put(buildCacheKey(ns, key), record);
      await batch.write();
    });
  }

  /**
   * Whether the record under key is already this state, its lease holding what it needs, and
   * used lately (a rebuild puts what it got from the cache again: its final image).
   */
  private async holds(ns: string, key: string, state: CachedState): Promise<boolean> {
    const r = await this.read(ns, key);
    if (!r || r.manifest.digest !== state.manifest.digest || r.chainId !== state.chainId || r.snapshotter !== state.snapshotter)
      return false;
    if (Date.now() - Date.parse(r.lastUsed) >= LAST_USED_RESOLUTION_MS) return false;
    const held = await this.deps
      .leases(ns)
      .listResources(r.lease)
      .catch(() => undefined);
    const has = (type: string, id: string) => held?.some((res) => res.type === type && res.id === id) ?? false;
    return has('content', state.manifest.digest) && (!state.chainId || has(`snapshots/${state.snapshotter}`, state.chainId));
  }

  /** The namespace's records, the most recently used first. */
  async list(ns: string): Promise<CacheRecord[]> {
    const prefix = buildCacheKey(ns, '');
    const out: CacheRecord[] = [];
    for await (const [k, v] of inBatches(this.db.iterator(under(prefix)))) out.push(toRecord(k.slice(prefix.length), v as StoredRecord));
    return out.sort((a, b) => b.lastUsedAt.getTime() - a.lastUsedAt.getTime());
  }

  /**
   * Removes records (all, or those unused for keepDurationMs) with their leases, and cache
   * leases no record names (a crash between the two writes).
   */
  async prune(ns: string, options: PruneOptions): Promise<{ removed: number; reclaimableBytes: number }> {
    const cutoff = Date.now() - options.keepDurationMs;
    const leases = this.deps.leases(ns);
    let removed = 0;
    let reclaimableBytes = 0;
    const kept = new Set<string>();
    for (const record of await this.list(ns)) {
      if (!options.all && record.lastUsedAt.getTime() >= cutoff) {
        kept.add(leaseId(record.key));
        continue;
      }
      const gone = await this.queue.run(`${ns}/${record.key}`, async () => {
        const r = await this.read(ns, record.key);
        if (!r || (!options.all && Date.parse(r.lastUsed) >= cutoff)) return false;
        await this.db.del(buildCacheKey(ns, record.key));
        await leases.delete(r.lease).catch((err: unknown) => {
          if (!isKind(err, ErrorKind.NotFound)) throw err;
        });
        return true;
      });
      if (!gone) continue;
      removed++;
      reclaimableBytes += record.size;
    }
    for (const lease of await leases.list([`labels."${BUILD_CACHE_LABEL}"`])) {
      if (kept.has(lease.id) || (await this.read(ns, lease.labels[BUILD_CACHE_LABEL] ?? ''))) continue;
      await leases.delete(lease.id).catch(() => undefined);
    }
    return { removed, reclaimableBytes };
  }

  /** Why a namespace cannot be removed yet (it has cache records), if it cannot. */
  async inUse(ns: string): Promise<string | undefined> {
    for await (const _ of inBatches(this.db.keys({ ...under(buildCacheKey(ns, '')), limit: 1 })))
      return 'it has build cache records (ctl builder prune)';
    return undefined;
  }
}

const toRecord = (key: string, r: StoredRecord): CacheRecord => ({
  key,
  description: r.description,
  manifest: r.manifest,
  chainId: r.chainId,
  snapshotter: r.snapshotter,
  size: r.size,
  createdAt: new Date(r.created),
  lastUsedAt: new Date(r.lastUsed),
});

export { BUILD_CACHE_PREFIX };
