/**
 * The snapshotter around a driver: records in LevelDB, kinds and parent chains, labels,
 * filters. The driver only lays out directories by id.
 *
 * Crash safety (kill -9 at any point): the disk changes first and the record last on create,
 * the record first and the disk last on remove, so a record always points at a whole
 * snapshot; what a crash leaves on disk without a record is an orphan that cleanup() removes.
 * Ids are persisted before use and never reused, so an orphan is never mistaken for a new
 * snapshot. Mutations are serialised, so checks and writes cannot interleave.
 */
import type { Database } from '@ctl/proto';
import { alreadyExists, failedPrecondition, invalidArgument, notFound } from '@ctl/proto/errors';
import type { Driver, DriverSnapshot } from './drivers/driver';
import { parseFilters } from './filters';
import { childKey, childrenPrefix, infoKey, infoPrefix, nextIdKey } from './layout';
import { type Cleaner, type Info, type Kind, type Mount, SIZE_LIMIT_LABEL, type Snapshotter, type Usage } from './snapshotter';
import { parseSize } from './quota';

export const MAX_KEY_BYTES = 1024;
export const MAX_LABEL_BYTES = 4096;
export const MAX_LABELS_BYTES = 64 * 1024;

interface SnapshotRecord {
  id: string;
  kind: Kind;
  parent: string;
  labels: Record<string, string>;
  created: string;
  updated: string;
}

function validateKey(key: string, what = 'key'): void {
  if (!key) throw invalidArgument(`snapshot ${what} must not be empty`);
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw invalidArgument(`snapshot ${what} "${key.slice(0, 64)}…" is longer than ${MAX_KEY_BYTES} bytes`);
  if (key.includes('\0')) throw invalidArgument(`snapshot ${what} must not contain NUL`);
}

function validateLabels(labels: Record<string, string>): Record<string, string> {
  let total = 0;
  for (const [k, v] of Object.entries(labels)) {
    const size = Buffer.byteLength(k) + Buffer.byteLength(v);
    if (!k) throw invalidArgument('label key must not be empty');
    if (size > MAX_LABEL_BYTES) throw invalidArgument(`label "${k.slice(0, 64)}" is longer than ${MAX_LABEL_BYTES} bytes with its value`);
    total += size;
  }
  if (total > MAX_LABELS_BYTES) throw invalidArgument(`labels total ${total} bytes, more than ${MAX_LABELS_BYTES}`);
  return { ...labels };
}

const toInfo = (name: string, r: SnapshotRecord): Info => ({
  name,
  parent: r.parent,
  kind: r.kind,
  createdAt: new Date(r.created),
  updatedAt: new Date(r.updated),
  labels: r.labels,
});

export class MetaSnapshotter implements Snapshotter, Cleaner {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly db: Database,
    readonly driver: Driver,
  ) {}

  get name(): string {
    return this.driver.name;
  }

  /** Runs mutations one at a time. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async record(key: string): Promise<SnapshotRecord | undefined> {
    return (await this.db.get(infoKey(this.driver.name, key))) as SnapshotRecord | undefined;
  }

  private async mustRecord(key: string): Promise<SnapshotRecord> {
    validateKey(key);
    const r = await this.record(key);
    if (!r) throw notFound(`snapshot "${key}" not found`);
    return r;
  }

  /** Parent chain ids, nearest first. */
  private async chain(parent: string): Promise<string[]> {
    const ids: string[] = [];
    for (let name = parent; name; ) {
      const r = await this.record(name);
      if (!r) throw notFound(`parent snapshot "${name}" not found`);
      ids.push(r.id);
      name = r.parent;
    }
    return ids;
  }

  private async driverSnapshot(r: SnapshotRecord): Promise<DriverSnapshot> {
    return { id: r.id, kind: r.kind, parents: await this.chain(r.parent) };
  }

  async stat(key: string): Promise<Info> {
    return toInfo(key, await this.mustRecord(key));
  }

  update(info: Pick<Info, 'name' | 'labels'>, fieldpaths: string[] = []): Promise<Info> {
    return this.serial(async () => {
      const r = await this.mustRecord(info.name);
      let labels: Record<string, string>;
      if (fieldpaths.length === 0) {
        labels = { ...(info.labels ?? {}) };
      } else {
        labels = { ...r.labels };
        for (const path of fieldpaths) {
          if (path === 'labels') labels = { ...(info.labels ?? {}) };
          else if (path.startsWith('labels.')) {
            const k = path.slice('labels.'.length);
            const v = info.labels?.[k];
            if (v) labels[k] = v;
            else delete labels[k];
          } else throw invalidArgument(`cannot update field "${path}" of snapshot "${info.name}": only labels can change`);
        }
      }
      const updated: SnapshotRecord = { ...r, labels: validateLabels(labels), updated: new Date().toISOString() };
      await this.db.put(infoKey(this.driver.name, info.name), updated);
      return toInfo(info.name, updated);
    });
  }

  async usage(key: string): Promise<Usage> {
    const r = await this.mustRecord(key);
    return this.driver.usage(await this.driverSnapshot(r));
  }

  async mounts(key: string): Promise<Mount[]> {
    const r = await this.mustRecord(key);
    if (r.kind === 'COMMITTED') throw failedPrecondition(`snapshot "${key}" is committed: only active and view snapshots have mounts`);
    return this.driver.mounts(await this.driverSnapshot(r));
  }

  prepare(key: string, parent: string, labels: Record<string, string> = {}): Promise<Mount[]> {
    return this.create('ACTIVE', key, parent, labels);
  }

  view(key: string, parent: string, labels: Record<string, string> = {}): Promise<Mount[]> {
    return this.create('VIEW', key, parent, labels);
  }

  private create(kind: 'ACTIVE' | 'VIEW', key: string, parent: string, labels: Record<string, string>): Promise<Mount[]> {
    return this.serial(async () => {
      validateKey(key);
      const checked = validateLabels(labels);
      const sizeLimit = checked[SIZE_LIMIT_LABEL] !== undefined ? parseSize(checked[SIZE_LIMIT_LABEL]) : undefined;
      if (sizeLimit !== undefined && kind !== 'ACTIVE') throw invalidArgument(`${SIZE_LIMIT_LABEL} applies to active snapshots only, not to view "${key}"`);
      if (await this.record(key)) throw alreadyExists(`snapshot "${key}" already exists`);
      if (parent) {
        validateKey(parent, 'parent');
        const p = await this.record(parent);
        if (!p) throw notFound(`parent snapshot "${parent}" not found`);
        if (p.kind !== 'COMMITTED') throw invalidArgument(`parent "${parent}" is not a committed snapshot (it is ${p.kind.toLowerCase()})`);
      }
      const next = ((await this.db.get(nextIdKey(this.driver.name))) as number | undefined) ?? 1;
      await this.db.put(nextIdKey(this.driver.name), next + 1);
      const snapshot: DriverSnapshot = { id: String(next), kind, parents: await this.chain(parent) };
      try {
        await this.driver.create(snapshot, { sizeLimit });
      } catch (err) {
        await this.driver.remove(snapshot.id).catch(() => undefined);
        throw err;
      }
      const now = new Date().toISOString();
      const record: SnapshotRecord = { id: snapshot.id, kind, parent, labels: checked, created: now, updated: now };
      const batch = this.db.batch().put(infoKey(this.driver.name, key), record);
      if (parent) batch.put(childKey(this.driver.name, parent, key), '');
      await batch.write();
      return this.driver.mounts(snapshot);
    });
  }

  commit(name: string, key: string, labels: Record<string, string> = {}): Promise<void> {
    return this.serial(async () => {
      validateKey(name, 'name');
      const r = await this.mustRecord(key);
      if (r.kind !== 'ACTIVE') throw failedPrecondition(`snapshot "${key}" is ${r.kind.toLowerCase()}: only active snapshots can be committed`);
      if (await this.record(name)) throw alreadyExists(`snapshot "${name}" already exists`);
      const merged = validateLabels({ ...r.labels, ...labels });
      await this.driver.commit(await this.driverSnapshot(r));
      const now = new Date().toISOString();
      const record: SnapshotRecord = { ...r, kind: 'COMMITTED', labels: merged, created: now, updated: now };
      const batch = this.db.batch().del(infoKey(this.driver.name, key)).put(infoKey(this.driver.name, name), record);
      if (r.parent) batch.del(childKey(this.driver.name, r.parent, key)).put(childKey(this.driver.name, r.parent, name), '');
      await batch.write();
    });
  }

  remove(key: string): Promise<void> {
    return this.serial(async () => {
      const r = await this.mustRecord(key);
      for await (const child of this.db.keys({ gt: childrenPrefix(this.driver.name, key), lt: `${childrenPrefix(this.driver.name, key)}\xff`, limit: 1 })) {
        throw failedPrecondition(`cannot remove snapshot "${key}": it has children (e.g. "${child.slice(childrenPrefix(this.driver.name, key).length)}")`);
      }
      const batch = this.db.batch().del(infoKey(this.driver.name, key));
      if (r.parent) batch.del(childKey(this.driver.name, r.parent, key));
      await batch.write();
      await this.driver.remove(r.id);
    });
  }

  async walk(fn: (info: Info) => void | Promise<void>, filters: string[] = []): Promise<void> {
    const filter = parseFilters(filters);
    const prefix = infoPrefix(this.driver.name);
    for await (const [k, v] of this.db.iterator({ gt: prefix, lt: `${prefix}\xff` })) {
      const info = toInfo(k.slice(prefix.length), v as SnapshotRecord);
      const matches = filter.match((path) => {
        switch (path[0]) {
          case 'name':
            return path.length === 1 ? info.name : undefined;
          case 'parent':
            return path.length === 1 ? info.parent : undefined;
          case 'kind':
            return path.length === 1 ? info.kind.toLowerCase() : undefined;
          case 'labels':
            return info.labels[path.slice(1).join('.')];
          default:
            return undefined;
        }
      });
      if (matches) await fn(info);
    }
  }

  /** Removes what the driver has on disk that no record points to (left by crashes). */
  cleanup(): Promise<void> {
    return this.serial(async () => {
      const known = new Set<string>();
      const prefix = infoPrefix(this.driver.name);
      for await (const v of this.db.values({ gt: prefix, lt: `${prefix}\xff` })) known.add((v as SnapshotRecord).id);
      for (const id of await this.driver.onDisk()) if (!known.has(id)) await this.driver.remove(id);
    });
  }
}
