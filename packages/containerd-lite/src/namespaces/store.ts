import {
  type Database,
  readRecord,
  alreadyExists,
  applyLabelUpdate,
  failedPrecondition,
  notFound,
  validateLabels,
  validateNamespace,
  inBatches,
} from '@ctl/proto';
import { NAMESPACE_PREFIX, namespaceKey } from '../layout';
import type { Namespace, Namespaces } from './namespaces';
import { type Publisher, Topic } from '../events/events';

interface StoredNamespace {
  labels: Record<string, string>;
}

/**
 * Asks whether anything still lives in a namespace; the stores of containers, images and
 * content register one each, so that deleting a namespace never orphans them.
 */
export type NamespaceInUse = (namespace: string) => Promise<string | undefined>;

export class NamespaceStore implements Namespaces {
  private readonly inUse: NamespaceInUse[] = [];
  /**
   * Announces creates, updates and deletes (/namespaces/*) when set. The envelope's namespace
   * is the namespace concerned (containerd uses the caller's, which this store does not see).
   */
  private readonly publisher: Publisher | undefined;

  constructor(
    private readonly db: Database,
    options: { publisher?: Publisher } = {},
  ) {
    this.publisher = options.publisher;
  }

  registerInUseCheck(check: NamespaceInUse): void {
    this.inUse.push(check);
  }

  private async read(name: string): Promise<StoredNamespace | undefined> {
    return readRecord(this.db, namespaceKey(name)) as StoredNamespace | undefined;
  }

  async get(name: string): Promise<Namespace> {
    validateNamespace(name);
    const stored = await this.read(name);
    if (!stored) throw notFound(`namespace "${name}" not found`);
    return { name, labels: stored.labels };
  }

  async list(): Promise<Namespace[]> {
    const out: Namespace[] = [];
    for await (const [key, value] of inBatches(this.db.iterator({ gt: NAMESPACE_PREFIX, lt: `${NAMESPACE_PREFIX}\xff` }))) {
      out.push({ name: key.slice(NAMESPACE_PREFIX.length), labels: (value as StoredNamespace).labels });
    }
    return out;
  }

  async create(namespace: Namespace): Promise<Namespace> {
    validateNamespace(namespace.name);
    const labels = validateLabels(namespace.labels ?? {});
    if (await this.read(namespace.name)) throw alreadyExists(`namespace "${namespace.name}" already exists`);
    await this.db.put(namespaceKey(namespace.name), { labels } satisfies StoredNamespace);
    this.publisher?.publish(namespace.name, Topic.namespaceCreate, 'containerd.events.NamespaceCreate', { name: namespace.name, labels });
    return { name: namespace.name, labels };
  }

  async update(namespace: Namespace, mask: string[] = []): Promise<Namespace> {
    const current = await this.get(namespace.name);
    const labels = applyLabelUpdate(current.labels, namespace.labels, mask, `namespace "${namespace.name}"`);
    validateLabels(labels);
    await this.db.put(namespaceKey(namespace.name), { labels } satisfies StoredNamespace);
    this.publisher?.publish(namespace.name, Topic.namespaceUpdate, 'containerd.events.NamespaceUpdate', { name: namespace.name, labels });
    return { name: namespace.name, labels };
  }

  async delete(name: string): Promise<void> {
    await this.get(name);
    for (const check of this.inUse) {
      const what = await check(name);
      if (what) throw failedPrecondition(`namespace "${name}" must be empty, but it still has ${what}`);
    }
    await this.db.del(namespaceKey(name));
    this.publisher?.publish(name, Topic.namespaceDelete, 'containerd.events.NamespaceDelete', { name });
  }
}
