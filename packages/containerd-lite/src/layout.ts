/**
 * Key layout of containerd-lite's metadata database (LevelDB, JSON values).
 *
 *   meta/schema-version    number                       the schema this store is written in
 *   ns/<namespace>         { labels }                   one record per namespace
 *
 * Later issues add containers, images, leases and content labels under per-namespace
 * prefixes, each with a migration.
 */
import type { SchemaDefinition } from '@ctl/proto';

export const NAMESPACE_PREFIX = 'ns/';
export const namespaceKey = (name: string): string => `${NAMESPACE_PREFIX}${name}`;

export const SCHEMA: SchemaDefinition = {
  version: 1,
  migrations: [{ version: 1, describe: 'namespaces', migrate: async () => undefined }],
};
