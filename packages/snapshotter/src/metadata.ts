/**
 * The snapshotter around a driver: records in LevelDB, kinds and parent chains, labels,
 * filters. The driver only lays out directories by id.
 *
 * Crash safety (kill -9 at any point): the disk changes first and the record last on create,
 * the record first and the disk last on remove, so a record always points at a whole
 * snapshot; what a crash leaves on disk without a record is an orphan that cleanup() removes.
 * Ids are never reused (see open()), so an orphan is never mistaken for a new snapshot.
 * Mutations are serialised, so checks and writes cannot interleave.
 */
import { type Database, readRecord, inBatches } from '@ctl/proto';
import { alreadyExists, failedPrecondition, invalidArgument, notFound } from '@ctl/proto/errors';
import { applyLabelUpdate, validateLabels } from '@ctl/proto/labels';
import type { Driver, DriverSnapshot } from './drivers/driver';
import { now, parseTime } from '@ctl/proto/time';
import { infoKey, infoPrefix, nextIdKey } from './layout';
import {
  type Cleaner,
  type Info,
  type Kind,
  type Leftover,
  type Mount,
  SIZE_LIMIT_LABEL,
  infoFilter,
  type Snapshotter,
  UNPACK_REF_LABEL,
  type Usage,
} from './snapshotter';
import { parseSize } from './quota';

export const MAX_KEY_BYTES = 1024;
export const MAX_LABELS_BYTES = 64 * 1024;

interface SnapshotRecord {
  id: string;
  kind: Kind;
  parent: string;
  labels: Record<string, string>;
  /** ISO 8601 with 9 fractional digits (3 in records written before nanosecond times; both read). */
  created: string;
  updated: string;
}

function validateKey(key: string, what = 'key'): void {
  if (!key) throw invalidArgument(`snapshot ${what} must not be empty`);
  if (Buffer.byteLength(key) > MAX_KEY_BYTES)
    throw invalidArgument(`snapshot ${what} "${key.slice(0, 64)}…" is longer than ${MAX_KEY_BYTES} bytes`);
  if (key.includes('\0')) throw invalidArgument(`snapshot ${what} must not contain NUL`);
}

const toInfo = (name: string, r: SnapshotRecord): Info => ({
  name,
  parent: r.parent,
  kind: r.kind,
  createdAt: parseTime(r.created),
  updatedAt: parseTime(r.updated),
  labels: r.labels,
});

export class MetaSnapshotter implements Snapshotter, Cleaner {
  private queue: Promise<unknown> = Promise.resolve();
  /** Disk removals run behind the record's removal, as containerd's GC does them. */
  private removals: Promise<void> = Promise.resolve();
  /**
   * The records of this driver, read once at open: this service is the database's only writer
   * (LevelDB's lock), so the copy in memory stays exact, and reads need no database round trip.
   */
  private readonly records = new Map<string, SnapshotRecord>();
  private readonly children = new Map<string, Set<string>>();
  private nextId = 1;

  private constructor(
    private readonly db: Database,
    readonly driver: Driver,
  ) {}

  static async open(db: Database, driver: Driver): Promise<MetaSnapshotter> {
    const s = new MetaSnapshotter(db, driver);
    const prefix = infoPrefix(driver.name);
    for await (const [k, v] of inBatches(db.iterator({ gt: prefix, lt: `${prefix}\xff` })))
      s.index(k.slice(prefix.length), v as SnapshotRecord);
    // The next id is saved with each new record; a crash between a driver's create and that
    // save leaves an orphan on disk whose id must not be handed out again, so ids on disk
    // count too (their contents would otherwise be taken for a new snapshot's).
    const saved = (readRecord(db, nextIdKey(driver.name)) as number | undefined) ?? 1;
    const onDisk = (await driver.onDisk()).map(Number);
    s.nextId = Math.max(saved, ...onDisk.map((id) => id + 1));
    await driver.restore?.([...s.records.values()].map((r) => r.id));
    return s;
  }

  get name(): string {
    return this.driver.name;
  }

  private index(key: string, r: SnapshotRecord): void {
    this.records.set(key, r);
    if (r.parent) {
      let set = this.children.get(r.parent);
      if (!set) this.children.set(r.parent, (set = new Set()));
      set.add(key);
    }
  }

  private unindex(key: string): void {
    const r = this.records.get(key);
    if (!r) return;
    this.records.delete(key);
    const set = r.parent ? this.children.get(r.parent) : undefined;
    set?.delete(key);
    if (set?.size === 0) this.children.delete(r.parent);
  }

  /** Runs mutations one at a time. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private mustRecord(key: string): SnapshotRecord {
    validateKey(key);
    const r = this.records.get(key);
    if (!r) throw notFound(`snapshot "${key}" not found`);
    return r;
  }

  /** A committed snapshot carrying the unpack label `ref` on the same parent, if any. */
  private findUnpacked(ref: string, parent: string): string | undefined {
    for (const [name, r] of this.records) {
      if (r.kind === 'COMMITTED' && r.parent === parent && r.labels[UNPACK_REF_LABEL] === ref) return name;
    }
    return undefined;
  }

  /** Parent chain ids, nearest first. */
  private chain(parent: string): string[] {
    const ids: string[] = [];
    for (let name = parent; name;) {
      const r = this.records.get(name);
      if (!r) throw notFound(`parent snapshot "${name}" not found`);
      ids.push(r.id);
      name = r.parent;
    }
    return ids;
  }

  private driverSnapshot(r: SnapshotRecord): DriverSnapshot {
    return { id: r.id, kind: r.kind, parents: this.chain(r.parent) };
  }

  async stat(key: string): Promise<Info> {
    return toInfo(key, this.mustRecord(key));
  }

  update(info: Pick<Info, 'name' | 'labels'>, fieldpaths: string[] = []): Promise<Info> {
    return this.serial(async () => {
      const r = this.mustRecord(info.name);
      const labels = applyLabelUpdate(r.labels, info.labels, fieldpaths, `snapshot "${info.name}"`);
      const updated: SnapshotRecord = { ...r, labels: validateLabels(labels, MAX_LABELS_BYTES), updated: now().toISOString() };
      await this.db.put(infoKey(this.driver.name, info.name), updated);
      this.records.set(info.name, updated);
      return toInfo(info.name, updated);
    });
  }

  async usage(key: string): Promise<Usage> {
    return this.driver.usage(this.driverSnapshot(this.mustRecord(key)));
  }

  async mounts(key: string): Promise<Mount[]> {
    const r = this.mustRecord(key);
    if (r.kind === 'COMMITTED') throw failedPrecondition(`snapshot "${key}" is committed: only active and view snapshots have mounts`);
    return this.driver.mounts(this.driverSnapshot(r));
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
      const checked = validateLabels(labels, MAX_LABELS_BYTES);
      const sizeLimit = checked[SIZE_LIMIT_LABEL] !== undefined ? parseSize(checked[SIZE_LIMIT_LABEL]) : undefined;
      if (sizeLimit !== undefined && kind !== 'ACTIVE')
        throw invalidArgument(`${SIZE_LIMIT_LABEL} applies to active snapshots only, not to view "${key}"`);
      if (this.records.has(key)) throw alreadyExists(`snapshot "${key}" already exists`);
      const ref = checked[UNPACK_REF_LABEL];
      if (kind === 'ACTIVE' && ref && this.findUnpacked(ref, parent)) {
        // containerd's unpack shortcut: the layer is here already (committed in another
        // namespace, say); AlreadyExists makes containerd find it with a List on this label.
        throw alreadyExists(`target snapshot "${ref}" already exists`);
      }
      if (parent) {
        validateKey(parent, 'parent');
        const p = this.records.get(parent);
        if (!p) throw notFound(`parent snapshot "${parent}" not found`);
        if (p.kind !== 'COMMITTED') throw invalidArgument(`parent "${parent}" is not a committed snapshot (it is ${p.kind.toLowerCase()})`);
      }
      const id = this.nextId++;
      const snapshot: DriverSnapshot = { id: String(id), kind, parents: this.chain(parent) };
      try {
        await this.driver.create(snapshot, { sizeLimit });
      } catch (err) {
        await this.driver.remove(snapshot.id).catch(() => undefined);
        throw err;
      }
      const stamp = now().toISOString();
      const record: SnapshotRecord = { id: snapshot.id, kind, parent, labels: checked, created: stamp, updated: stamp };
      await this.db.batch().put(infoKey(this.driver.name, key), record).put(nextIdKey(this.driver.name), this.nextId).write();
      this.index(key, record);
      return this.driver.mounts(snapshot);
    });
  }

  commit(name: string, key: string, labels: Record<string, string> = {}): Promise<void> {
    return this.serial(async () => {
      validateKey(name, 'name');
      const r = this.mustRecord(key);
      if (r.kind !== 'ACTIVE')
        throw failedPrecondition(`snapshot "${key}" is ${r.kind.toLowerCase()}: only active snapshots can be committed`);
      if (this.records.has(name)) throw alreadyExists(`snapshot "${name}" already exists`);
      const merged = validateLabels({ ...r.labels, ...labels }, MAX_LABELS_BYTES);
      await this.driver.commit(this.driverSnapshot(r));
      const stamp = now().toISOString();
      const record: SnapshotRecord = { ...r, kind: 'COMMITTED', labels: merged, created: stamp, updated: stamp };
      await this.db.batch().del(infoKey(this.driver.name, key)).put(infoKey(this.driver.name, name), record).write();
      this.unindex(key);
      this.index(name, record);
    });
  }

  remove(key: string): Promise<void> {
    return this.serial(async () => {
      const r = this.mustRecord(key);
      const children = this.children.get(key);
      if (children?.size) {
        throw failedPrecondition(`cannot remove snapshot "${key}": it has children (e.g. "${children.values().next().value}")`);
      }
      await this.db.del(infoKey(this.driver.name, key));
      this.unindex(key);
      // The record is gone, so the snapshot is; its files go in the background. A crash before
      // they are gone leaves an orphan for cleanup(), never a record without files.
      this.removals = this.removals.then(() => this.driver.remove(r.id)).catch(() => undefined);
    });
  }

  async walk(fn: (info: Info) => void | Promise<void>, filters: string[] = []): Promise<void> {
    const matches = infoFilter(filters);
    for (const [name, r] of [...this.records.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const info = toInfo(name, r);
      if (matches(info)) await fn(info);
    }
  }

  /** What the host holds under the driver's root that no record accounts for (between operations, so none is half done). */
  leftovers(): Promise<Leftover[]> {
    return this.serial(async () => {
      await this.removals;
      return (await this.driver.leftovers?.(this.recordedIds())) ?? [];
    });
  }

  private recordedIds(): Set<string> {
    return new Set([...this.records.values()].map((r) => r.id));
  }

  /** Waits for background removals of snapshots already removed. */
  settled(): Promise<void> {
    return this.removals;
  }

  /** Removes what the driver has on disk that no record points to (left by crashes). */
  cleanup(): Promise<void> {
    return this.serial(async () => {
      await this.removals;
      const known = this.recordedIds();
      for (const id of await this.driver.onDisk()) if (!known.has(id)) await this.driver.remove(id);
      await this.driver.collect?.();
    });
  }
}
