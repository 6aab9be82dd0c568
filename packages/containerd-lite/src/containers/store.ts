/**
 * The containers store: container records in containerd-lite's database (see layout.ts), one
 * namespace at a time through `namespace(ns)`, with containerd's validation and update rules.
 * A container is a GC root holding its snapshot (registerRoots reads the records), so create
 * and update run under the GC lock shared; delete schedules a collection. Changes are
 * announced on /containers/{create,update,delete} when a publisher is set.
 */
import {
  type Database,
  readRecord,
  alreadyExists,
  failedPrecondition,
  invalidArgument,
  notFound,
  validateLabels,
  validateNamespace,
  inBatches,
} from '@ctl/proto';
import { parseFilters } from '@ctl/proto/filters';
import { now, parseTime } from '@ctl/proto/time';
import type { Publisher } from '../events/events';
import { Topic } from '../events/events';
import { type GcRoot, type GcTrigger, noGc } from '../gc/gc';
import { GcLock } from '../gc/lock';
import { validateIdentifier } from '../identifiers';
import { KeyedQueue } from '@ctl/proto/keyed-queue';
import { CONTAINER_PREFIX, containerKey, namespaceKey, splitNamespaced, under } from '../layout';
import { Label } from '../oci';
import type { Any, Container, Containers, NewContainer } from './containers';

const GC_REF_CONTENT = Label.gcRefContent.slice(0, -1);

interface StoredAny {
  typeUrl: string;
  /** base64 */
  value: string;
}

interface ContainerRecord {
  labels: Record<string, string>;
  image: string;
  runtime: { name: string; options?: StoredAny };
  spec?: StoredAny;
  snapshotter: string;
  snapshotKey: string;
  extensions: Record<string, StoredAny>;
  sandbox?: string;
  created: string;
  updated: string;
}

const storeAny = (a: Any): StoredAny => ({ typeUrl: a.typeUrl, value: Buffer.from(a.value).toString('base64') });
const loadAny = (s: StoredAny): Any => ({ typeUrl: s.typeUrl, value: Buffer.from(s.value, 'base64') });
const mapValues = <A, B>(m: Record<string, A>, f: (a: A) => B): Record<string, B> =>
  Object.fromEntries(Object.entries(m).map(([k, v]) => [k, f(v)]));

function toContainer(id: string, r: ContainerRecord): Container {
  const c: Container = {
    id,
    labels: { ...r.labels },
    image: r.image,
    runtime: r.runtime.options ? { name: r.runtime.name, options: loadAny(r.runtime.options) } : { name: r.runtime.name },
    snapshotter: r.snapshotter,
    snapshotKey: r.snapshotKey,
    createdAt: parseTime(r.created),
    updatedAt: parseTime(r.updated),
    extensions: mapValues(r.extensions, loadAny),
  };
  if (r.spec) c.spec = loadAny(r.spec);
  if (r.sandbox) c.sandbox = r.sandbox;
  return c;
}

/** The mutable part of a record, as a given container would set it (validated separately). */
type Fields = Omit<ContainerRecord, 'created' | 'updated'>;

function fieldsOf(c: NewContainer): Fields {
  const f: Fields = {
    labels: { ...(c.labels ?? {}) },
    image: c.image ?? '',
    runtime: c.runtime?.options ? { name: c.runtime.name ?? '', options: storeAny(c.runtime.options) } : { name: c.runtime?.name ?? '' },
    snapshotter: c.snapshotter ?? '',
    snapshotKey: c.snapshotKey ?? '',
    extensions: mapValues(c.extensions ?? {}, storeAny),
  };
  if (c.spec) f.spec = storeAny(c.spec);
  if (c.sandbox) f.sandbox = c.sandbox;
  return f;
}

/** containerd's validateContainer. */
function validate(id: string, f: Fields): void {
  const what = `container "${id}"`;
  for (const key of Object.keys(f.extensions)) if (!key) throw invalidArgument(`${what}: extension keys must not be empty`);
  validateLabels(f.labels);
  if (!f.runtime.name) throw invalidArgument(`${what}: runtime name must be set`);
  if (!f.spec) throw invalidArgument(`${what}: spec must be set`);
  if (f.snapshotKey && !f.snapshotter) throw invalidArgument(`${what}: snapshotter must be set when a snapshot key is`);
}

/** Fields a full update (no field paths) replaces, as in containerd. */
const FULL_UPDATE = ['labels', 'spec', 'extensions', 'image', 'snapshotkey'];

/**
 * Asks whether a container may go (the tasks service: not while it has a task); answers the
 * reason it may not, which makes Delete FailedPrecondition.
 */
export type ContainerDeleteCheck = (namespace: string, id: string) => Promise<string | undefined>;

export interface ContainerStoreOptions {
  lock?: GcLock;
  gc?: GcTrigger;
  publisher?: Publisher;
}

export class ContainerStore {
  readonly lock: GcLock;
  private readonly gc: GcTrigger;
  /** Announces creates, updates and deletes when set. */
  private readonly publisher: Publisher | undefined;
  private readonly queue = new KeyedQueue();
  private readonly deleteChecks: ContainerDeleteCheck[] = [];
  private readonly deletedHooks: Array<(namespace: string, id: string) => void> = [];
  private readonly releasers: Array<(namespace: string, container: Container) => Promise<void>> = [];
  /**
   * The keys of every record, read once and then kept by create and delete (the only writers of
   * records): a missing id, which every ctl run's new name is, is told without a read. LevelDB
   * (no bloom filters here) looks for a missing key through each table whose range holds it,
   * 1.8-3.8 ms of a ctl run after a few thousand runs.
   */
  private keys: Promise<Set<string>> | undefined;

  constructor(
    readonly db: Database,
    options: ContainerStoreOptions = {},
  ) {
    this.lock = options.lock ?? new GcLock();
    this.gc = options.gc ?? noGc;
    this.publisher = options.publisher;
  }

  /** Adds a check run before each delete (containerd leaves it to the client; a service may do it here). */
  registerDeleteCheck(check: ContainerDeleteCheck): void {
    this.deleteChecks.push(check);
  }

  /**
   * fn runs in each delete once the checks pass, before the record goes: it releases what the
   * container holds outside this store that must not outlive it (its network), through whichever
   * API the delete came (ctl rm, containerd's Containers.Delete as `ctr c rm`). When it throws the
   * record stays, so the delete can be tried again.
   */
  registerRelease(fn: (namespace: string, container: Container) => Promise<void>): void {
    this.releasers.push(fn);
  }

  /** fn runs after each delete (what a container owned outside this store: its log file). */
  onDeleted(fn: (namespace: string, id: string) => void): void {
    this.deletedHooks.push(fn);
  }

  namespace(namespace: string): Containers {
    return new NamespacedContainers(this, validateNamespace(namespace));
  }

  private knownKeys(): Promise<Set<string>> {
    this.keys ??= (async () => {
      const keys = new Set<string>();
      for await (const key of inBatches(this.db.keys(under(CONTAINER_PREFIX)))) keys.add(key);
      return keys;
    })();
    return this.keys;
  }

  private async read(namespace: string, id: string): Promise<ContainerRecord | undefined> {
    const key = containerKey(namespace, id);
    if (!(await this.knownKeys()).has(key)) return undefined;
    return readRecord(this.db, key) as ContainerRecord | undefined;
  }

  private async mustRead(namespace: string, id: string): Promise<ContainerRecord> {
    validateIdentifier(id, 'container id');
    const r = await this.read(namespace, id);
    if (!r) throw notFound(`container "${id}" not found in namespace "${namespace}"`);
    return r;
  }

  async get(namespace: string, id: string): Promise<Container> {
    return toContainer(id, await this.mustRead(namespace, id));
  }

  /** How many containers a namespace has, for the namespace store's "in use" check. */
  async inUse(namespace: string): Promise<string | undefined> {
    let n = 0;
    for await (const _ of inBatches(this.db.keys(under(containerKey(namespace, ''))))) n++;
    return n ? `${n} container${n === 1 ? '' : 's'}` : undefined;
  }

  /**
   * The GC roots of every container, as in containerd: its snapshot, and what its labels
   * reference (containerd.io/gc.ref.content[.<x>] = digest, containerd.io/gc.ref.snapshot.<snapshotter>
   * = key). Read-only, so it may run while the collector holds its lock exclusive.
   */
  async roots(): Promise<GcRoot[]> {
    const out: GcRoot[] = [];
    for await (const [key, value] of inBatches(this.db.iterator(under(CONTAINER_PREFIX)))) {
      const [namespace] = splitNamespaced(key, CONTAINER_PREFIX);
      const r = value as ContainerRecord;
      if (r.snapshotter && r.snapshotKey) out.push({ type: 'snapshot', namespace, snapshotter: r.snapshotter, key: r.snapshotKey });
      for (const [label, target] of Object.entries(r.labels)) {
        if (!target) continue;
        if (label === GC_REF_CONTENT || label.startsWith(Label.gcRefContent)) out.push({ type: 'content', namespace, digest: target });
        else if (label.startsWith(Label.gcRefSnapshot) && label.length > Label.gcRefSnapshot.length) {
          out.push({ type: 'snapshot', namespace, snapshotter: label.slice(Label.gcRefSnapshot.length), key: target });
        }
      }
    }
    return out;
  }

  async list(namespace: string, filters: string[] = []): Promise<Container[]> {
    const filter = parseFilters(filters);
    const out: Container[] = [];
    const prefix = containerKey(namespace, '');
    for await (const [key, value] of inBatches(this.db.iterator(under(prefix)))) {
      const c = toContainer(key.slice(prefix.length), value as ContainerRecord);
      const match = filter.match((path) => {
        switch (path[0]) {
          case 'id':
            return c.id;
          case 'image':
            return c.image;
          case 'runtime':
            return path[1] === 'name' && path.length === 2 ? c.runtime.name : undefined;
          case 'labels':
            return c.labels[path.slice(1).join('.')];
          case 'snapshotter':
            return c.snapshotter;
          case 'snapshotkey':
          case 'snapshot_key':
            return c.snapshotKey;
          case 'sandbox':
            return c.sandbox;
          default:
            return undefined;
        }
      });
      if (match) out.push(c);
    }
    return out;
  }

  async create(namespace: string, container: NewContainer): Promise<Container> {
    const id = validateIdentifier(container.id, 'container id');
    const fields = fieldsOf(container);
    validate(id, fields);
    const created = await this.lock.shared(() =>
      this.queue.run(containerKey(namespace, id), async () => {
        if (await this.read(namespace, id)) throw alreadyExists(`container "${id}" already exists in namespace "${namespace}"`);
        const stamp = now().toISOString();
        const record: ContainerRecord = { ...fields, created: stamp, updated: stamp };
        const key = containerKey(namespace, id);
        const batch = this.db.batch().put(key, record);
        // Using a namespace makes it, as in containerd.
        if (readRecord(this.db, namespaceKey(namespace)) === undefined) batch.put(namespaceKey(namespace), { labels: {} });
        // Known before it is written: a read in between finds no record yet, as before the write.
        const keys = await this.knownKeys();
        keys.add(key);
        await batch.write().catch((err: unknown) => {
          keys.delete(key);
          throw err;
        });
        return toContainer(id, record);
      }),
    );
    this.publisher?.publish(namespace, Topic.containerCreate, 'containerd.events.ContainerCreate', {
      id,
      image: created.image,
      runtime: { name: created.runtime.name, ...(created.runtime.options ? { options: created.runtime.options } : {}) },
    });
    return created;
  }

  /**
   * containerd's update rules: with no field paths, labels, spec, extensions, image and
   * snapshot key are replaced, and a different snapshotter or runtime name is InvalidArgument
   * (they are immutable); field paths may name those five fields, "labels.<key>" and
   * "extensions.<key>" (an absent or empty value removes the entry); any other path (id,
   * runtime, snapshotter, …) is InvalidArgument. The result is validated as on create.
   */
  async update(namespace: string, container: NewContainer, fieldpaths: string[] = []): Promise<Container> {
    const id = container.id;
    if (!id) throw invalidArgument('container update needs an id');
    const given = fieldsOf(container);
    const updated = await this.lock.shared(() =>
      this.queue.run(containerKey(namespace, id), async () => {
        const current = await this.mustRead(namespace, id);
        const next: ContainerRecord = { ...current, labels: { ...current.labels }, extensions: { ...current.extensions } };
        let paths = fieldpaths;
        if (paths.length === 0) {
          paths = FULL_UPDATE;
          if (given.snapshotter !== current.snapshotter) throw invalidArgument(`container "${id}": snapshotter cannot change (immutable)`);
          if (given.runtime.name !== current.runtime.name)
            throw invalidArgument(`container "${id}": runtime name cannot change (immutable)`);
        }
        for (const path of paths) {
          if (path.startsWith('labels.')) {
            const key = path.slice('labels.'.length);
            const value = given.labels[key];
            if (value) next.labels[key] = value;
            else delete next.labels[key];
            continue;
          }
          if (path.startsWith('extensions.')) {
            const key = path.slice('extensions.'.length);
            const value = given.extensions[key];
            if (value) next.extensions[key] = value;
            else delete next.extensions[key];
            continue;
          }
          switch (path) {
            case 'labels':
              next.labels = given.labels;
              break;
            case 'spec':
              if (given.spec) next.spec = given.spec;
              else delete next.spec;
              break;
            case 'extensions':
              next.extensions = given.extensions;
              break;
            case 'image':
              next.image = given.image;
              break;
            case 'snapshotkey':
              next.snapshotKey = given.snapshotKey;
              break;
            default:
              throw invalidArgument(`cannot update field "${path}" of container "${id}"`);
          }
        }
        validate(id, next);
        next.updated = now().toISOString();
        await this.db.put(containerKey(namespace, id), next);
        return toContainer(id, next);
      }),
    );
    this.publisher?.publish(namespace, Topic.containerUpdate, 'containerd.events.ContainerUpdate', {
      id,
      image: updated.image,
      labels: updated.labels,
      snapshotKey: updated.snapshotKey,
    });
    return updated;
  }

  async delete(namespace: string, id: string, options: { collect?: boolean } = {}): Promise<void> {
    await this.queue.run(containerKey(namespace, id), async () => {
      const record = await this.mustRead(namespace, id);
      for (const check of this.deleteChecks) {
        const why = await check(namespace, id);
        if (why) throw failedPrecondition(`container "${id}" cannot be deleted: ${why}`);
      }
      for (const release of this.releasers) await release(namespace, toContainer(id, record));
      await this.db.del(containerKey(namespace, id));
      (await this.knownKeys()).delete(containerKey(namespace, id));
    });
    for (const hook of this.deletedHooks) hook(namespace, id);
    this.publisher?.publish(namespace, Topic.containerDelete, 'containerd.events.ContainerDelete', { id });
    if (options.collect !== false) this.gc.schedule();
  }
}

class NamespacedContainers implements Containers {
  constructor(
    private readonly store: ContainerStore,
    readonly namespace: string,
  ) {}

  get(id: string): Promise<Container> {
    return this.store.get(this.namespace, id);
  }

  list(filters: string[] = []): Promise<Container[]> {
    return this.store.list(this.namespace, filters);
  }

  create(container: NewContainer): Promise<Container> {
    return this.store.create(this.namespace, container);
  }

  update(container: NewContainer, fieldpaths: string[] = []): Promise<Container> {
    return this.store.update(this.namespace, container, fieldpaths);
  }

  delete(id: string, options?: { collect?: boolean }): Promise<void> {
    return this.store.delete(this.namespace, id, options);
  }
}
