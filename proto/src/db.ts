/**
 * Each service's metadata lives in its own LevelDB with a schema version key and ordered
 * migrations (containerd's metadata/migrations.go). A service refuses a database written by a
 * newer schema rather than guess at it.
 */
import type { Level } from 'level';
import { ErrorKind, EngineError, failedPrecondition } from './errors';
import { SpaceReserve, guardWrites, isNoSpace, openWithReserve } from './db-reserve';
import { ensureDir } from './fsutil';

export const SCHEMA_VERSION_KEY = 'meta/schema-version';

export type Database = Level<string, unknown>;

export interface Migration {
  /** The schema version this migration produces. */
  version: number;
  describe: string;
  migrate(db: Database): Promise<void>;
}

export interface SchemaDefinition {
  /** The version this code reads and writes. */
  version: number;
  /** Ordered by version; each takes the store from version - 1 to version. The first, to 1,
   * lays out an empty store. */
  migrations: readonly Migration[];
}

export async function openDatabase(dir: string, schema: SchemaDefinition): Promise<Database> {
  ensureDir(dir, 0o700);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Level } = require('level') as typeof import('level');
  const db = new Level<string, unknown>(dir, { valueEncoding: 'json' });
  // A full disk must neither keep the database from opening nor its deletes from going through.
  const reserve = new SpaceReserve(`${dir}.reserve`);
  try {
    await openWithReserve(db, reserve);
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code === 'LEVEL_LOCKED' ? 'it is in use by another process' : (cause?.message ?? (err as Error).message);
    const kind = isNoSpace(err) ? ErrorKind.ResourceExhausted : ErrorKind.Unavailable;
    throw new EngineError(kind, `open database ${dir}: ${why}`, { cause: err });
  }
  guardWrites(db, reserve);
  try {
    await migrate(db, schema);
  } catch (err) {
    await db.close();
    throw err;
  }
  return db;
}

/**
 * A record by key, read on the calling thread (LevelDB's Get: its memtable, block cache or an
 * SSTable in the page cache). get() sends each read to the thread pool and back: a worker's
 * wake-up and the loop's, and a snapshot taken under LevelDB's lock before. With 50 `ctl run -d` at
 * once on two cores, the 400 reads of those starts kept the daemon's one thread 121 ms in get()
 * (up to 37 ms for one, waiting for a CPU); unloaded, 0.04 ms each.
 */
export function readRecord(db: Database, key: string): unknown {
  return db.getSync(key);
}

export async function schemaVersion(db: Database): Promise<number> {
  const value = readRecord(db, SCHEMA_VERSION_KEY);
  return typeof value === 'number' ? value : 0;
}

async function migrate(db: Database, schema: SchemaDefinition): Promise<void> {
  let current = await schemaVersion(db);
  if (current > schema.version) {
    throw failedPrecondition(`database ${db.location} has schema version ${current}, newer than this build's ${schema.version}`);
  }
  for (const step of schema.migrations) {
    if (step.version <= current) continue;
    if (step.version !== current + 1) {
      throw failedPrecondition(`no migration from schema version ${current} to ${step.version} (${step.describe})`);
    }
    await step.migrate(db);
    await db.put(SCHEMA_VERSION_KEY, step.version);
    current = step.version;
  }
  if (current !== schema.version) {
    throw failedPrecondition(`migrations end at schema version ${current}, expected ${schema.version}`);
  }
}

/** The part of a LevelDB iterator (entries, keys or values) that inBatches reads through. */
export interface BatchIterator<T> {
  nextv(size: number): Promise<T[]>;
  close(): Promise<void>;
}

/** The first batch inBatches asks for, and the largest (classic-level's own batch). */
export const FIRST_BATCH = 16;
export const LARGEST_BATCH = 1000;

/**
 * What `for await` over a LevelDB iterator gives, read in batches that start at FIRST_BATCH
 * entries and grow fourfold. classic-level's native iterator keeps a buffer with room for the
 * largest batch it was asked for (64 bytes an entry) until V8 collects the iterator's handle,
 * closed or not, and `for await` and all() ask for 1,000: 64 KiB of malloc'd memory for every
 * scan, held until the next full GC — in the daemon, hundreds of container runs later, and a
 * scan per run (a lease's resources) held 25 MiB at once. Most scans find a few entries;
 * one that finds many costs a few more round trips to the thread pool.
 */
export async function* inBatches<T>(iterator: BatchIterator<T>): AsyncGenerator<T, void, undefined> {
  try {
    for (let size = FIRST_BATCH; ; size = Math.min(size * 4, LARGEST_BATCH)) {
      const batch = await iterator.nextv(size);
      if (batch.length === 0) return;
      yield* batch;
    }
  } finally {
    await iterator.close();
  }
}
