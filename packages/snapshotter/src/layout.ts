/**
 * Key layout of the snapshotter's metadata database (LevelDB, JSON values).
 *
 *   meta/schema-version   number   the schema this store is written in
 *
 * Schema 1 is the empty store that the service opens and versions; the issues that give the
 * snapshotter its objects add their keys here, each with a migration.
 */
import type { SchemaDefinition } from '@ctl/proto';

export const SCHEMA: SchemaDefinition = {
  version: 1,
  migrations: [{ version: 1, describe: 'versioned empty store', migrate: async () => undefined }],
};
