/**
 * The leases store: lease records and the resources they hold, in containerd-lite's database
 * (see layout.ts), one namespace at a time through `namespace(ns)`. Creating a lease and
 * adding a resource to one run under the GC lock shared, so that a collection sees a resource
 * either held or not yet made; deleting a lease schedules a collection (or runs it, with sync).
 */
import {
  type Database,
  readRecord,
  EngineError,
  ErrorKind,
  alreadyExists,
  invalidArgument,
  notFound,
  validateLabels,
  validateNamespace,
  inBatches,
} from '@ctl/proto';
import { parseFilters } from '@ctl/proto/filters';
import { now, parseTime } from '@ctl/proto/time';
import { randomBytes } from 'node:crypto';
import { validateDigest } from '../content/ingests';
import { type GcTrigger, noGc } from '../gc/gc';
import { GcLock } from '../gc/lock';
import type { LeaseEntry } from '../gc/mark';
import { KeyedQueue } from '@ctl/proto/keyed-queue';
import {
  LEASE_PREFIX,
  LEASE_RESOURCE_PREFIX,
  leaseKey,
  leaseResourceKey,
  leaseResourcePrefix,
  namespaceKey,
  splitNamespaced,
  under,
} from '../layout';
import { Label } from '../oci';
import { DAEMON_RUN_LABEL, type DeleteLeaseOptions, type Lease, type OperationLeases, type Resource } from './leases';

interface LeaseRecord {
  labels: Record<string, string>;
  created: string;
}

/**
 * Lease ids as containerd takes them: any non-empty name (containerd checks nothing more, and its
 * clients' random ids, e.g. ctr's "566229709-RZu-", end or double up with '-' and '_', so the
 * identifier rule of containers would refuse some of them). We refuse only what would break
 * the record's key (layout.ts: '/' separates its segments) or a log line: '/', white space and
 * control characters, and more than 256 characters.
 */
const LEASE_ID = /^[^/\s\p{Cc}]{1,256}$/u;

export function validateLeaseId(id: string): string {
  if (!id) throw invalidArgument('lease id must not be empty');
  if (!LEASE_ID.test(id)) {
    throw invalidArgument(`lease id "${id.slice(0, 80)}" must be at most 256 characters without '/', white space or control characters`);
  }
  return id;
}

/** Checks a resource as containerd does: known types, well-formed ids. */
export function validateResource(resource: Resource | null | undefined): Resource {
  if (!resource) throw invalidArgument('a lease resource must be given');
  const { id, type } = resource;
  if (!id) throw invalidArgument('lease resource id must not be empty');
  if (Buffer.byteLength(id) > 4096) throw invalidArgument(`lease resource id "${id.slice(0, 64)}…" is longer than 4096 bytes`);
  if (type === 'content') validateDigest(id);
  else if (type === 'snapshots' || type === 'snapshots/')
    throw invalidArgument('lease resource type "snapshots" needs a snapshotter: "snapshots/<name>"');
  else if (type.startsWith('snapshots/')) {
    if (type.slice('snapshots/'.length).includes('/'))
      throw invalidArgument(`lease resource type "${type}": snapshotter names contain no '/'`);
  } else if (type !== 'ingests') throw new EngineError(ErrorKind.NotImplemented, `unsupported lease resource type "${type}"`);
  return { id, type };
}

const toLease = (id: string, r: LeaseRecord): Lease => ({ id, createdAt: parseTime(r.created), labels: r.labels });

export interface LeaseStoreOptions {
  lock?: GcLock;
  gc?: GcTrigger;
  /** This run of the daemon (DAEMON_RUN_LABEL); a random id by default. */
  run?: string;
}

export class LeaseStore {
  readonly lock: GcLock;
  /** This run of the daemon, on the leases of its operations. */
  readonly run: string;
  private readonly gc: GcTrigger;
  /** Changes to one lease never interleave (lock order: GC lock, then this). */
  private readonly queue = new KeyedQueue();

  constructor(
    readonly db: Database,
    options: LeaseStoreOptions = {},
  ) {
    this.lock = options.lock ?? new GcLock();
    this.gc = options.gc ?? noGc;
    this.run = options.run ?? randomBytes(8).toString('hex');
  }

  namespace(namespace: string): OperationLeases {
    return new NamespacedLeases(this, validateNamespace(namespace));
  }

  async read(namespace: string, id: string): Promise<LeaseRecord | undefined> {
    return readRecord(this.db, leaseKey(namespace, id)) as LeaseRecord | undefined;
  }

  async mustRead(namespace: string, id: string): Promise<LeaseRecord> {
    validateLeaseId(id);
    const r = await this.read(namespace, id);
    if (!r) throw notFound(`lease "${id}" not found in namespace "${namespace}"`);
    return r;
  }

  async inUse(namespace: string): Promise<string | undefined> {
    let n = 0;
    for await (const _ of inBatches(this.db.keys(under(leaseKey(namespace, ''))))) n++;
    return n ? `${n} lease${n === 1 ? '' : 's'}` : undefined;
  }

  async create(namespace: string, options: { id?: string; labels?: Record<string, string> }): Promise<Lease> {
    const id = validateLeaseId(options.id || `${Date.now()}-${randomBytes(6).toString('hex')}`);
    const labels = validateLabels(options.labels ?? {});
    return this.lock.shared(() =>
      this.queue.run(leaseKey(namespace, id), async () => {
        if (await this.read(namespace, id)) throw alreadyExists(`lease "${id}" already exists in namespace "${namespace}"`);
        const record: LeaseRecord = { labels, created: now().toISOString() };
        const batch = this.db.batch().put(leaseKey(namespace, id), record);
        if (readRecord(this.db, namespaceKey(namespace)) === undefined) batch.put(namespaceKey(namespace), { labels: {} });
        await batch.write();
        return toLease(id, record);
      }),
    );
  }

  async delete(namespace: string, id: string, options: DeleteLeaseOptions): Promise<void> {
    await this.queue.run(leaseKey(namespace, id), async () => {
      await this.mustRead(namespace, id);
      const batch = this.db.batch().del(leaseKey(namespace, id));
      for await (const key of inBatches(this.db.keys(under(leaseResourcePrefix(namespace, id))))) batch.del(key);
      await batch.write();
    });
    if (options.sync) await this.gc.collect();
    else if (options.collect !== false) this.gc.schedule();
  }

  async list(namespace: string, filters: string[]): Promise<Lease[]> {
    const filter = parseFilters(filters);
    const out: Lease[] = [];
    const prefix = leaseKey(namespace, '');
    for await (const [key, value] of inBatches(this.db.iterator(under(prefix)))) {
      const lease = toLease(key.slice(prefix.length), value as LeaseRecord);
      const match = filter.match((path) => {
        if (path[0] === 'id') return lease.id;
        if (path[0] === 'labels') return lease.labels[path.slice(1).join('.')];
        return undefined;
      });
      if (match) out.push(lease);
    }
    return out;
  }

  async addResource(namespace: string, id: string, resource: Resource): Promise<void> {
    const valid = validateResource(resource);
    await this.lock.shared(() =>
      this.queue.run(leaseKey(namespace, id), async () => {
        await this.mustRead(namespace, id);
        await this.db.put(leaseResourceKey(namespace, id, valid.type, valid.id), valid);
      }),
    );
  }

  async deleteResource(namespace: string, id: string, resource: Resource): Promise<void> {
    const valid = validateResource(resource);
    await this.queue.run(leaseKey(namespace, id), async () => {
      await this.mustRead(namespace, id);
      await this.db.del(leaseResourceKey(namespace, id, valid.type, valid.id));
    });
  }

  async listResources(namespace: string, id: string): Promise<Resource[]> {
    await this.mustRead(namespace, id);
    const out: Resource[] = [];
    for await (const value of inBatches(this.db.values(under(leaseResourcePrefix(namespace, id))))) out.push(value as Resource);
    return out;
  }

  /**
   * Every lease of every namespace with its resources, for the garbage collector, plus the
   * keys of resources whose lease is gone (left by nothing in normal operation; swept).
   */
  async all(): Promise<{ leases: LeaseEntry[]; dangling: string[] }> {
    const leases = new Map<string, LeaseEntry>();
    for await (const [key, value] of inBatches(this.db.iterator(under(LEASE_PREFIX)))) {
      const [namespace, id] = splitNamespaced(key, LEASE_PREFIX);
      leases.set(`${namespace}/${id}`, { namespace, id, labels: (value as LeaseRecord).labels, resources: [] });
    }
    const dangling: string[] = [];
    for await (const [key, value] of inBatches(this.db.iterator(under(LEASE_RESOURCE_PREFIX)))) {
      const [namespace, rest] = splitNamespaced(key, LEASE_RESOURCE_PREFIX);
      const lease = leases.get(`${namespace}/${rest.slice(0, rest.indexOf('/'))}`);
      if (lease) lease.resources.push(value as Resource);
      else dangling.push(key);
    }
    return { leases: [...leases.values()], dangling };
  }

  /**
   * Removes the leases that operations of earlier runs of the daemon took (DAEMON_RUN_LABEL of
   * another run): those operations died with their daemon. Resources they held go at the next
   * collection, which the caller starts. Returns how many leases went.
   */
  async releaseEarlierRuns(): Promise<number> {
    const { leases } = await this.all();
    const stale = leases.filter((l) => l.labels[DAEMON_RUN_LABEL] !== undefined && l.labels[DAEMON_RUN_LABEL] !== this.run);
    await this.remove(stale);
    return stale.length;
  }

  /** Removes leases (expired ones, by the collector) with their resources, in one batch. */
  async remove(leases: Array<{ namespace: string; id: string }>, danglingKeys: string[] = []): Promise<void> {
    if (!leases.length && !danglingKeys.length) return;
    const batch = this.db.batch();
    for (const { namespace, id } of leases) {
      batch.del(leaseKey(namespace, id));
      for await (const key of inBatches(this.db.keys(under(leaseResourcePrefix(namespace, id))))) batch.del(key);
    }
    for (const key of danglingKeys) batch.del(key);
    await batch.write();
  }
}

class NamespacedLeases implements OperationLeases {
  constructor(
    private readonly store: LeaseStore,
    readonly namespace: string,
  ) {}

  create(options: { id?: string; labels?: Record<string, string> } = {}): Promise<Lease> {
    return this.store.create(this.namespace, options);
  }

  createForOperation(ttlMs: number): Promise<Lease> {
    const expire = new Date(Date.now() + ttlMs).toISOString();
    return this.store.create(this.namespace, { labels: { [Label.gcExpire]: expire, [DAEMON_RUN_LABEL]: this.store.run } });
  }

  delete(id: string, options: DeleteLeaseOptions = {}): Promise<void> {
    return this.store.delete(this.namespace, id, options);
  }

  list(filters: string[] = []): Promise<Lease[]> {
    return this.store.list(this.namespace, filters);
  }

  addResource(id: string, resource: Resource): Promise<void> {
    return this.store.addResource(this.namespace, id, resource);
  }

  deleteResource(id: string, resource: Resource): Promise<void> {
    return this.store.deleteResource(this.namespace, id, resource);
  }

  listResources(id: string): Promise<Resource[]> {
    return this.store.listResources(this.namespace, id);
  }
}
