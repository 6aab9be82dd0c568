/**
 * Key layout of containerd-lite's metadata database (LevelDB, JSON values).
 *
 *   meta/schema-version                     number                          the schema this store is written in
 *   ns/<namespace>                          { labels }                      one record per namespace
 *   content/<namespace>/<digest>            { size, labels, created, updated }  a blob visible in a namespace (schema 2)
 *
 * Blobs and ingests themselves live on disk under <root>/containerd-lite/content (see
 * content/store.ts); the records here say which namespaces see them. A namespace record is
 * written in the same batch as the first content record of a namespace.
 *
 * Schema 1: namespaces. Schema 2: content records (nothing to move: schema 1 held none).
 */
import type { SchemaDefinition } from '@ctl/proto';

export const NAMESPACE_PREFIX = 'ns/';
export const namespaceKey = (name: string): string => `${NAMESPACE_PREFIX}${name}`;

export const CONTENT_PREFIX = 'content/';
export const contentKey = (namespace: string, digest: string): string => `${CONTENT_PREFIX}${namespace}/${digest}`;

export const SCHEMA: SchemaDefinition = {
  version: 2,
  migrations: [
    { version: 1, describe: 'namespaces', migrate: async () => undefined },
    { version: 2, describe: 'content records per namespace', migrate: async () => undefined },
  ],
};
