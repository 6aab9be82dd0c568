/**
 * Key layout of the snapshotter's metadata database (LevelDB, JSON values). Each driver has
 * its own key space, so one service can serve several drivers from one database.
 *
 *   meta/schema-version                              number
 *   snap/<driver>/next-id                            number   the next id to hand out (never reused)
 *   snap/<driver>/info/<key or name>                 Record   one per snapshot (see metadata.ts)
 *
 * Schema 1: the versioned empty store. Schema 2: snapshot records (no data to move: schema 1
 * held none). Parent -> children is derived from the records when the service opens.
 * Times in records are ISO strings; since nanosecond times they carry 9 fractional digits
 * instead of 3. No schema change: parseTime reads both, and older builds read the new ones.
 */
import type { SchemaDefinition } from '@ctl/proto';

export const SCHEMA: SchemaDefinition = {
  version: 2,
  migrations: [
    { version: 1, describe: 'versioned empty store', migrate: async () => undefined },
    { version: 2, describe: 'snapshot records, per-driver key spaces', migrate: async () => undefined },
  ],
};

export const driverPrefix = (driver: string): string => `snap/${driver}/`;
export const nextIdKey = (driver: string): string => `${driverPrefix(driver)}next-id`;
export const infoPrefix = (driver: string): string => `${driverPrefix(driver)}info/`;
export const infoKey = (driver: string, key: string): string => `${infoPrefix(driver)}${key}`;
