import { type Database, alreadyExists, failedPrecondition, invalidArgument, notFound, validateNamespace } from '@ctl/proto';
import { NAMESPACE_PREFIX, namespaceKey } from '../layout';
import type { Namespace, Namespaces } from './namespaces';

const MAX_LABEL_BYTES = 4096;

function validateLabels(labels: Record<string, string>): Record<string, string> {
  for (const [key, value] of Object.entries(labels)) {
    if (!key) throw invalidArgument('label key must not be empty');
    if (Buffer.byteLength(key) + Buffer.byteLength(value) > MAX_LABEL_BYTES) {
      throw invalidArgument(`label "${key.slice(0, 64)}" is longer than ${MAX_LABEL_BYTES} bytes with its value`);
    }
  }
  return { ...labels };
}

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

  constructor(private readonly db: Database) {}

  registerInUseCheck(check: NamespaceInUse): void {
    this.inUse.push(check);
  }

  private async read(name: string): Promise<StoredNamespace | undefined> {
    return (await this.db.get(namespaceKey(name))) as StoredNamespace | undefined;
  }

  async get(name: string): Promise<Namespace> {
    validateNamespace(name);
    const stored = await this.read(name);
    if (!stored) throw notFound(`namespace "${name}" not found`);
    return { name, labels: stored.labels };
  }

  async list(): Promise<Namespace[]> {
    const out: Namespace[] = [];
    for await (const [key, value] of this.db.iterator({ gt: NAMESPACE_PREFIX, lt: `${NAMESPACE_PREFIX}\xff` })) {
      out.push({ name: key.slice(NAMESPACE_PREFIX.length), labels: (value as StoredNamespace).labels });
    }
    return out;
  }

  async create(namespace: Namespace): Promise<Namespace> {
    validateNamespace(namespace.name);
    const labels = validateLabels(namespace.labels ?? {});
    if (await this.read(namespace.name)) throw alreadyExists(`namespace "${namespace.name}" already exists`);
    await this.db.put(namespaceKey(namespace.name), { labels } satisfies StoredNamespace);
    return { name: namespace.name, labels };
  }

  async update(namespace: Namespace, mask: string[] = []): Promise<Namespace> {
    const current = await this.get(namespace.name);
    let labels: Record<string, string>;
    if (mask.length === 0) {
      labels = { ...(namespace.labels ?? {}) };
    } else {
      labels = { ...current.labels };
      for (const path of mask) {
        if (path === 'labels') {
          labels = { ...(namespace.labels ?? {}) };
        } else if (path.startsWith('labels.')) {
          const key = path.slice('labels.'.length);
          const value = namespace.labels?.[key];
          if (value) labels[key] = value;
          else delete labels[key];
        } else {
          throw invalidArgument(`cannot update field "${path}" of namespace "${namespace.name}": only labels can change`);
        }
      }
    }
    validateLabels(labels);
    await this.db.put(namespaceKey(namespace.name), { labels } satisfies StoredNamespace);
    return { name: namespace.name, labels };
  }

  async delete(name: string): Promise<void> {
    await this.get(name);
    for (const check of this.inUse) {
      const what = await check(name);
      if (what) throw failedPrecondition(`namespace "${name}" must be empty, but it still has ${what}`);
    }
    await this.db.del(namespaceKey(name));
  }
}
