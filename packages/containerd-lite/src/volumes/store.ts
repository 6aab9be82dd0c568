/**
 * The volume store: volume records in containerd-lite's database (see layout.ts) and their
 * directories under `<root>/containerd-lite/volumes/<ns>/<name>/_data`.
 *
 * Whether a volume is in use is read from the containers' specs (a mount whose source is the
 * volume's _data), through the usage provider the service registers. Changes to the volumes of
 * a namespace run one at a time (`exclusive`), and the runner makes a container's volumes and
 * records the container inside the same turn, so a removal cannot slip between the two.
 *
 * Removal renames the directory to `.trash-<random>` beside it (one atomic step), deletes the
 * record, then deletes the trash; trash a crash left is swept when the store opens. A directory
 * without a record (a crash between mkdir and the record) is adopted by the next create.
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
import { ensureDir } from '@ctl/proto/fsutil';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type Any, specOf } from '../containers/containers';
import { KeyedQueue } from '@ctl/proto/keyed-queue';
import { VOLUME_PREFIX, namespaceKey, splitNamespaced, under, volumeKey } from '../layout';
import { type NewVolume, VOLUME_DRIVER, type Volume, type Volumes } from './volumes';

interface VolumeRecord {
  labels: Record<string, string>;
  created: string;
  driver: string;
  anonymous?: boolean;
}

/** Docker's volume names; at most 255 bytes, as the directory they name. */
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const TRASH = '.trash-';

export function validateVolumeName(name: string): string {
  if (!NAME.test(name) || name.length > 255) {
    throw invalidArgument(
      `invalid volume name "${name.slice(0, 80)}": two or more of [a-zA-Z0-9_.-], starting with a letter or digit, at most 255 (to mount a host directory, give an absolute path)`,
    );
  }
  return name;
}

/** Which containers (ids) use which volumes (names) in a namespace. */
export type VolumeUsage = (namespace: string) => Promise<Map<string, string[]>>;

export class VolumeStore {
  private readonly queue = new KeyedQueue();
  private usage: VolumeUsage = async () => new Map();

  private constructor(
    readonly db: Database,
    /** `<root>/containerd-lite/volumes` */
    readonly root: string,
  ) {}

  /** Opens the store on its directory, sweeping the trash of removals a crash interrupted. */
  static async open(db: Database, root: string): Promise<VolumeStore> {
    ensureDir(root, 0o701);
    for (const ns of readdirSync(root, { withFileTypes: true })) {
      if (!ns.isDirectory()) continue;
      for (const entry of readdirSync(join(root, ns.name))) {
        if (entry.startsWith(TRASH)) await rm(join(root, ns.name, entry), { recursive: true, force: true });
      }
    }
    return new VolumeStore(db, root);
  }

  registerUsage(usage: VolumeUsage): void {
    this.usage = usage;
  }

  namespace(namespace: string): Volumes {
    return new NamespacedVolumes(this, validateNamespace(namespace));
  }

  /** Runs fn while no other change to the namespace's volumes runs (nor a runner's create with volumes). */
  exclusive<T>(namespace: string, fn: () => Promise<T>): Promise<T> {
    return this.queue.run(namespace, fn);
  }

  mountpoint(namespace: string, name: string): string {
    return join(this.root, namespace, name, '_data');
  }

  /** The name of the volume a mount source is the mountpoint of, if it is one of this namespace's. */
  /** The volumes a container's spec mounts (however they got there). */
  usedBy(namespace: string, container: { spec?: Any }): string[] {
    const mounts = specOf(container)?.mounts ?? [];
    return [
      ...new Set(mounts.map((m) => (m.source ? this.nameOf(namespace, m.source) : undefined)).filter((n): n is string => Boolean(n))),
    ];
  }

  nameOf(namespace: string, source: string): string | undefined {
    const prefix = join(this.root, namespace) + '/';
    if (!source.startsWith(prefix) || !source.endsWith('/_data')) return undefined;
    const name = source.slice(prefix.length, -'/_data'.length);
    return NAME.test(name) ? name : undefined;
  }

  private async read(namespace: string, name: string): Promise<VolumeRecord | undefined> {
    return readRecord(this.db, volumeKey(namespace, name)) as VolumeRecord | undefined;
  }

  private toVolume(namespace: string, name: string, r: VolumeRecord, usedBy: string[]): Volume {
    return {
      name,
      driver: r.driver,
      mountpoint: this.mountpoint(namespace, name),
      labels: r.labels,
      createdAt: new Date(r.created),
      anonymous: Boolean(r.anonymous),
      usedBy,
    };
  }

  async get(namespace: string, name: string): Promise<Volume> {
    const r = await this.read(namespace, name);
    if (!r) throw notFound(`no such volume: ${name}`);
    return this.toVolume(namespace, name, r, (await this.usage(namespace)).get(name) ?? []);
  }

  async list(namespace: string): Promise<Volume[]> {
    const usage = await this.usage(namespace);
    const out: Volume[] = [];
    const prefix = volumeKey(namespace, '');
    for await (const [key, value] of inBatches(this.db.iterator(under(prefix)))) {
      const name = key.slice(prefix.length);
      out.push(this.toVolume(namespace, name, value as VolumeRecord, usage.get(name) ?? []));
    }
    return out;
  }

  /** How many volumes a namespace has, for the namespace store's "in use" check. */
  async inUse(namespace: string): Promise<string | undefined> {
    let n = 0;
    for await (const _ of inBatches(this.db.keys(under(volumeKey(namespace, ''))))) n++;
    return n ? `${n} volume${n === 1 ? '' : 's'}` : undefined;
  }

  /** Every volume of every namespace (for tests and tools). */
  async all(): Promise<{ namespace: string; name: string }[]> {
    const out = [];
    for await (const key of inBatches(this.db.keys(under(VOLUME_PREFIX)))) {
      const [namespace, name] = splitNamespaced(key, VOLUME_PREFIX);
      out.push({ namespace, name });
    }
    return out;
  }

  create(namespace: string, volume: NewVolume): Promise<Volume & { made: boolean }> {
    return this.exclusive(namespace, () => this.createLocked(namespace, volume));
  }

  /** create, for a caller inside exclusive(namespace). made: whether it is new. */
  async createLocked(namespace: string, volume: NewVolume): Promise<Volume & { made: boolean }> {
    const name = volume.name ? validateVolumeName(volume.name) : randomBytes(32).toString('hex');
    const driver = volume.driver || VOLUME_DRIVER;
    if (driver !== VOLUME_DRIVER) throw invalidArgument(`volume driver "${driver}" is not supported: only "${VOLUME_DRIVER}"`);
    const labels = validateLabels(volume.labels ?? {});
    const existing = await this.read(namespace, name);
    if (existing) {
      if (!volume.name) throw alreadyExists(`volume ${name} already exists`);
      return { ...this.toVolume(namespace, name, existing, []), made: false };
    }
    ensureDir(join(this.root, namespace), 0o701);
    await mkdir(join(this.root, namespace, name), { mode: 0o755 }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    await mkdir(this.mountpoint(namespace, name), { mode: 0o755 }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    const record: VolumeRecord = { labels, created: new Date().toISOString(), driver, ...(volume.anonymous ? { anonymous: true } : {}) };
    const batch = this.db.batch().put(volumeKey(namespace, name), record);
    // Using a namespace makes it, as for images and containers.
    if (readRecord(this.db, namespaceKey(namespace)) === undefined) batch.put(namespaceKey(namespace), { labels: {} });
    await batch.write();
    return { ...this.toVolume(namespace, name, record, []), made: true };
  }

  remove(namespace: string, name: string, force = false): Promise<void> {
    return this.exclusive(namespace, () => this.removeLocked(namespace, name, force));
  }

  /** remove, for a caller inside exclusive(namespace). */
  async removeLocked(namespace: string, name: string, force = false): Promise<void> {
    if (!(await this.read(namespace, name))) {
      if (force) return;
      throw notFound(`no such volume: ${name}`);
    }
    const users = (await this.usage(namespace)).get(name) ?? [];
    if (users.length)
      throw failedPrecondition(
        `volume ${name} is in use by container${users.length === 1 ? '' : 's'} ${users.join(', ')}: remove ${users.length === 1 ? 'it' : 'them'} first`,
      );
    await this.drop(namespace, name);
  }

  private async drop(namespace: string, name: string): Promise<void> {
    const dir = join(this.root, namespace, name);
    const trash = join(this.root, namespace, `${TRASH}${randomBytes(8).toString('hex')}`);
    const moved = existsSync(dir) ? await rename(dir, trash).then(() => true) : false;
    await this.db.del(volumeKey(namespace, name));
    if (moved) await rm(trash, { recursive: true, force: true });
  }

  prune(namespace: string, all = false): Promise<string[]> {
    return this.exclusive(namespace, async () => {
      const usage = await this.usage(namespace);
      const removed: string[] = [];
      for (const v of await this.list(namespace)) {
        if ((all || v.anonymous) && !usage.get(v.name)?.length) {
          await this.drop(namespace, v.name);
          removed.push(v.name);
        }
      }
      return removed;
    });
  }
}

class NamespacedVolumes implements Volumes {
  constructor(
    private readonly store: VolumeStore,
    readonly namespace: string,
  ) {}

  async create(volume: NewVolume): Promise<Volume> {
    const { made: _, ...v } = await this.store.create(this.namespace, volume);
    return v;
  }

  get(name: string): Promise<Volume> {
    return this.store.get(this.namespace, name);
  }

  list(): Promise<Volume[]> {
    return this.store.list(this.namespace);
  }

  remove(name: string, options: { force?: boolean } = {}): Promise<void> {
    return this.store.remove(this.namespace, name, Boolean(options.force));
  }

  prune(options: { all?: boolean } = {}): Promise<string[]> {
    return this.store.prune(this.namespace, Boolean(options.all));
  }
}
