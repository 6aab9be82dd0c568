/**
 * Key layout of containerd-lite's metadata database (LevelDB, JSON values).
 *
 *   meta/schema-version                          number                          the schema this store is written in
 *   ns/<namespace>                               { labels }                      one record per namespace
 *   content/<namespace>/<digest>                 { size, labels, created, updated }  a blob visible in a namespace (schema 2)
 *   image/<namespace>/<name>                     { labels, target, created, updated }  an image (schema 3)
 *   lease/<namespace>/<id>                       { labels, created }             a lease (schema 3)
 *   lease-res/<namespace>/<id>/<type>/<res id>   { type, id }                    a resource the lease holds (schema 3)
 *   build-cache/<namespace>/<key>                { description, manifest, chainId, snapshotter, size, lease,
 *                                                  created, lastUsed }  a build cache record (schema 6): the state
 *                                                                                after one build step, key = the step's cache key
 *                                                                                (hex); its lease holds the manifest and snapshot
 *   snapshotter/<name>                           { recorded }                    a snapshotter containerd-lite has made
 *                                                                                snapshots in, swept by GC (schema 3)
 *   container/<namespace>/<id>                   { labels, image, runtime, spec, snapshotter, snapshotKey,
 *                                                  extensions, sandbox, created, updated }  a container (schema 4);
 *                                                                                Anys as { typeUrl, value (base64) }
 *   volume/<namespace>/<name>                    { labels, created, driver, anonymous? }  a volume (schema 5); its data
 *                                                                                is <root>/containerd-lite/volumes/<namespace>/<name>/_data
 *
 * Image names may contain '/', namespaces and lease ids never do, so the first two segments
 * after the prefix are unambiguous. A lease resource's type is "content" (id = digest),
 * "ingests" (id = ref) or "snapshots/<snapshotter>" (id = snapshot key without the namespace);
 * the value repeats type and id so that nothing has to be parsed back out of the key.
 *
 * Blobs and ingests themselves live on disk under <root>/containerd-lite/content (see
 * content/store.ts); the records here say which namespaces see them. A namespace record is
 * written in the same batch as the first content, image or lease record of a namespace.
 *
 * Schema 1: namespaces. Schema 2: content records (nothing to move: schema 1 held none).
 * Schema 3: images, leases, lease resources, snapshotters (nothing to move: all new keys).
 * Schema 4: containers (nothing to move: all new keys). Container ids never contain '/'.
 * Schema 5: volumes (nothing to move: all new keys). Volume names never contain '/'. Volumes
 * are not GC roots nor collected: one lives until removed (see volumes/store.ts).
 * Schema 6: build cache records (nothing to move: all new keys). Keys are hex digests.
 * Times (created, updated) are ISO strings, with 9 fractional digits since nanosecond times and
 * 3 before; `parseTime` reads both and older builds read the new ones, so no schema change.
 */
import type { SchemaDefinition } from '@ctl/proto';

export const NAMESPACE_PREFIX = 'ns/';
export const namespaceKey = (name: string): string => `${NAMESPACE_PREFIX}${name}`;

export const CONTENT_PREFIX = 'content/';
export const contentKey = (namespace: string, digest: string): string => `${CONTENT_PREFIX}${namespace}/${digest}`;

export const IMAGE_PREFIX = 'image/';
export const imageKey = (namespace: string, name: string): string => `${IMAGE_PREFIX}${namespace}/${name}`;

export const LEASE_PREFIX = 'lease/';
export const leaseKey = (namespace: string, id: string): string => `${LEASE_PREFIX}${namespace}/${id}`;

export const LEASE_RESOURCE_PREFIX = 'lease-res/';
/** All resources of one lease (or, with id omitted, of all leases of a namespace) sort under this. */
export const leaseResourcePrefix = (namespace: string, id?: string): string =>
  id === undefined ? `${LEASE_RESOURCE_PREFIX}${namespace}/` : `${LEASE_RESOURCE_PREFIX}${namespace}/${id}/`;
export const leaseResourceKey = (namespace: string, id: string, type: string, resource: string): string =>
  `${leaseResourcePrefix(namespace, id)}${type}/${resource}`;

export const CONTAINER_PREFIX = 'container/';
export const containerKey = (namespace: string, id: string): string => `${CONTAINER_PREFIX}${namespace}/${id}`;

export const VOLUME_PREFIX = 'volume/';
export const volumeKey = (namespace: string, name: string): string => `${VOLUME_PREFIX}${namespace}/${name}`;

export const BUILD_CACHE_PREFIX = 'build-cache/';
export const buildCacheKey = (namespace: string, key: string): string => `${BUILD_CACHE_PREFIX}${namespace}/${key}`;

export const SNAPSHOTTER_PREFIX = 'snapshotter/';
export const snapshotterKey = (name: string): string => `${SNAPSHOTTER_PREFIX}${name}`;

/** The bounds of a LevelDB range holding every key that starts with prefix. */
export const under = (prefix: string): { gt: string; lt: string } => ({ gt: prefix, lt: `${prefix}\xff` });

/** Splits "<namespace>/<rest>" (after a prefix); rest may itself contain '/'. */
export function splitNamespaced(key: string, prefix: string): [string, string] {
  const tail = key.slice(prefix.length);
  const slash = tail.indexOf('/');
  return [tail.slice(0, slash), tail.slice(slash + 1)];
}

export const SCHEMA: SchemaDefinition = {
  version: 6,
  migrations: [
    { version: 1, describe: 'namespaces', migrate: async () => undefined },
    { version: 2, describe: 'content records per namespace', migrate: async () => undefined },
    { version: 3, describe: 'images, leases, lease resources and snapshotters', migrate: async () => undefined },
    { version: 4, describe: 'containers', migrate: async () => undefined },
    { version: 5, describe: 'volumes', migrate: async () => undefined },
    { version: 6, describe: 'build cache records', migrate: async () => undefined },
  ],
};
