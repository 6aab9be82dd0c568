/**
 * The images store: image records in containerd-lite's database (see layout.ts), one
 * namespace at a time through `namespace(ns)`. Creating and updating an image makes a
 * reference (its target), so both run under the GC lock shared; deleting one schedules a
 * collection (or runs it, with sync).
 */
import {
  type Database,
  readRecord,
  alreadyExists,
  applyLabelUpdate,
  invalidArgument,
  notFound,
  validateLabels,
  validateNamespace,
  inBatches,
} from '@ctl/proto';
import { parseFilters } from '@ctl/proto/filters';
import { now, parseTime } from '@ctl/proto/time';
import { GcLock } from '../gc/lock';
import { type GcTrigger, noGc } from '../gc/gc';
import type { ImageEntry } from '../gc/mark';
import { KeyedQueue } from '@ctl/proto/keyed-queue';
import { IMAGE_PREFIX, imageKey, namespaceKey, splitNamespaced, under } from '../layout';
import type { Descriptor } from '../oci';
import type { DeleteOptions, Image, Images } from './images';
import { type Publisher, Topic } from '../events/events';

/** Bound on an image name, in bytes (containerd's bound on one label, which names often end up in). */
export const MAX_IMAGE_NAME_BYTES = 4096;

interface ImageRecord {
  labels: Record<string, string>;
  target: Descriptor;
  created: string;
  updated: string;
}

// OCI's digest grammar, with the lengths of the algorithms it registers.
const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const DIGEST_LENGTHS: Record<string, number> = { sha256: 64, sha512: 128 };

export function validateImageName(name: string | undefined): string {
  if (!name) throw invalidArgument('image name must not be empty');
  if (Buffer.byteLength(name) > MAX_IMAGE_NAME_BYTES)
    throw invalidArgument(`image name "${name.slice(0, 64)}…" is longer than ${MAX_IMAGE_NAME_BYTES} bytes`);
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(name)) throw invalidArgument(`image name ${JSON.stringify(name.slice(0, 64))} contains control characters`);
  return name;
}

export function validateTarget(target: Partial<Descriptor> | null | undefined, what: string): Descriptor {
  if (!target) throw invalidArgument(`${what}: target must be set`);
  if (!target.mediaType) throw invalidArgument(`${what}: target media type must be set`);
  const digest = target.digest ?? '';
  const [algorithm, hex] = digest.split(':', 2) as [string, string | undefined];
  const length = DIGEST_LENGTHS[algorithm];
  if (!DIGEST_GRAMMAR.test(digest) || (length !== undefined && !new RegExp(`^[a-f0-9]{${length}}$`).test(hex ?? ''))) {
    throw invalidArgument(`${what}: target digest "${digest.slice(0, 80)}" is not valid`);
  }
  const size = target.size ?? 0;
  if (!Number.isSafeInteger(size) || size < 0) throw invalidArgument(`${what}: target size ${target.size} must be a non-negative integer`);
  const out: Descriptor = { mediaType: target.mediaType, digest, size };
  if (target.annotations && Object.keys(target.annotations).length) out.annotations = validateLabels(target.annotations);
  return out;
}

const toImage = (name: string, r: ImageRecord): Image => ({
  name,
  labels: r.labels,
  target: r.target,
  createdAt: parseTime(r.created),
  updatedAt: parseTime(r.updated),
});

export interface ImageStoreOptions {
  lock?: GcLock;
  gc?: GcTrigger;
  publisher?: Publisher;
}

export class ImageStore {
  readonly lock: GcLock;
  private readonly gc: GcTrigger;
  /** Announces creates, updates and deletes (/images/*) when set. */
  private readonly publisher: Publisher | undefined;
  /** Create, update and delete of one image never interleave (lock order: GC lock, then this). */
  private readonly queue = new KeyedQueue();

  constructor(
    readonly db: Database,
    options: ImageStoreOptions = {},
  ) {
    this.lock = options.lock ?? new GcLock();
    this.gc = options.gc ?? noGc;
    this.publisher = options.publisher;
  }

  namespace(namespace: string): Images {
    return new NamespacedImages(this, validateNamespace(namespace));
  }

  async read(namespace: string, name: string): Promise<ImageRecord | undefined> {
    return readRecord(this.db, imageKey(namespace, name)) as ImageRecord | undefined;
  }

  async mustRead(namespace: string, name: string): Promise<ImageRecord> {
    validateImageName(name);
    const r = await this.read(namespace, name);
    if (!r) throw notFound(`image "${name}" not found in namespace "${namespace}"`);
    return r;
  }

  /** How many images a namespace has, for the namespace store's "in use" check. */
  async inUse(namespace: string): Promise<string | undefined> {
    let n = 0;
    for await (const _ of inBatches(this.db.keys(under(imageKey(namespace, ''))))) n++;
    return n ? `${n} image${n === 1 ? '' : 's'}` : undefined;
  }

  /** Every image of every namespace, for the garbage collector. */
  async all(): Promise<ImageEntry[]> {
    const out: ImageEntry[] = [];
    for await (const [key, value] of inBatches(this.db.iterator(under(IMAGE_PREFIX)))) {
      const [namespace, name] = splitNamespaced(key, IMAGE_PREFIX);
      out.push({ namespace, name, target: (value as ImageRecord).target.digest });
    }
    return out;
  }

  async list(namespace: string, filters: string[]): Promise<Image[]> {
    const filter = parseFilters(filters);
    const out: Image[] = [];
    const prefix = imageKey(namespace, '');
    for await (const [key, value] of inBatches(this.db.iterator(under(prefix)))) {
      const image = toImage(key.slice(prefix.length), value as ImageRecord);
      const match = filter.match((path) => {
        if (path[0] === 'name') return image.name;
        if (path[0] === 'target' && path[1] === 'digest') return image.target.digest;
        if (path[0] === 'target' && path[1] === 'mediatype') return image.target.mediaType;
        if (path[0] === 'labels') return image.labels[path.slice(1).join('.')];
        return undefined;
      });
      if (match) out.push(image);
    }
    return out;
  }

  async create(namespace: string, image: Pick<Image, 'name' | 'target'> & Partial<Pick<Image, 'labels'>>): Promise<Image> {
    const name = validateImageName(image.name);
    const target = validateTarget(image.target, `image "${name}"`);
    const labels = validateLabels(image.labels ?? {});
    const created = await this.lock.shared(() =>
      this.queue.run(imageKey(namespace, name), async () => {
        if (await this.read(namespace, name)) throw alreadyExists(`image "${name}" already exists in namespace "${namespace}"`);
        const stamp = now().toISOString();
        const record: ImageRecord = { labels, target, created: stamp, updated: stamp };
        const batch = this.db.batch().put(imageKey(namespace, name), record);
        // Using a namespace makes it, as in containerd.
        if (readRecord(this.db, namespaceKey(namespace)) === undefined) batch.put(namespaceKey(namespace), { labels: {} });
        await batch.write();
        return toImage(name, record);
      }),
    );
    this.publisher?.publish(namespace, Topic.imageCreate, 'containerd.events.ImageCreate', { name, labels: created.labels });
    return created;
  }

  async update(
    namespace: string,
    image: Pick<Image, 'name'> & Partial<Pick<Image, 'target' | 'labels'>>,
    fieldpaths: string[],
  ): Promise<Image> {
    const name = validateImageName(image.name);
    const what = `image "${name}"`;
    const updated = await this.lock.shared(() =>
      this.queue.run(imageKey(namespace, name), async () => {
        const current = await this.mustRead(namespace, name);
        let { labels, target } = current;
        if (fieldpaths.length === 0) {
          target = validateTarget(image.target, what);
          labels = validateLabels(image.labels ?? {});
        } else {
          const labelPaths: string[] = [];
          for (const path of fieldpaths) {
            if (path === 'labels' || path.startsWith('labels.')) {
              labelPaths.push(path);
            } else if (path === 'target') {
              target = validateTarget(image.target, what);
            } else if (path === 'annotations' || path.startsWith('annotations.')) {
              const annotations = applyLabelUpdate(
                target.annotations ?? {},
                image.target?.annotations,
                [path.replace(/^annotations/, 'labels')],
                what,
              );
              target = { ...target, annotations: validateLabels(annotations) };
              if (!Object.keys(annotations).length) delete target.annotations;
            } else {
              throw invalidArgument(`cannot update field "${path}" of ${what}: only target, labels and annotations can change`);
            }
          }
          if (labelPaths.length) labels = validateLabels(applyLabelUpdate(labels, image.labels, labelPaths, what));
        }
        const record: ImageRecord = { ...current, labels, target, updated: now().toISOString() };
        await this.db.put(imageKey(namespace, name), record);
        return toImage(name, record);
      }),
    );
    this.publisher?.publish(namespace, Topic.imageUpdate, 'containerd.events.ImageUpdate', { name, labels: updated.labels });
    return updated;
  }

  async delete(namespace: string, name: string, options: DeleteOptions): Promise<void> {
    await this.queue.run(imageKey(namespace, name), async () => {
      await this.mustRead(namespace, name);
      await this.db.del(imageKey(namespace, name));
    });
    this.publisher?.publish(namespace, Topic.imageDelete, 'containerd.events.ImageDelete', { name });
    if (options.sync) await this.gc.collect();
    else this.gc.schedule();
  }
}

class NamespacedImages implements Images {
  constructor(
    private readonly store: ImageStore,
    readonly namespace: string,
  ) {}

  async get(name: string): Promise<Image> {
    return toImage(name, await this.store.mustRead(this.namespace, name));
  }

  list(filters: string[] = []): Promise<Image[]> {
    return this.store.list(this.namespace, filters);
  }

  create(image: Pick<Image, 'name' | 'target'> & Partial<Pick<Image, 'labels'>>): Promise<Image> {
    return this.store.create(this.namespace, image);
  }

  update(image: Pick<Image, 'name'> & Partial<Pick<Image, 'target' | 'labels'>>, fieldpaths: string[] = []): Promise<Image> {
    return this.store.update(this.namespace, image, fieldpaths);
  }

  delete(name: string, options: DeleteOptions = {}): Promise<void> {
    return this.store.delete(this.namespace, name, options);
  }
}
