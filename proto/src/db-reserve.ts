/**
 * A full disk must not lock the engine up. LevelDB needs new space to open (recovery writes a
 * table, a manifest and a log) and to write, so on a disk that a container filled, `rm -f`
 * failed and the next daemon did not start at all until someone deleted a file by hand.
 *
 * So each database keeps a reserve: a file of RESERVE_BYTES beside it (`<dir>.reserve`) that
 * nothing else uses. When opening or a write fails with ENOSPC, the reserve is given up and the
 * operation tried again (reopening the database first if it still fails: a failed background
 * compaction leaves LevelDB refusing every write until reopened), so the deletes that free
 * space can go through and a daemon starts. Once the file system has room again, the reserve
 * is made anew. When even that is not enough, the error is ResourceExhausted and says so.
 */
import { existsSync, renameSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import type { Level } from 'level';
import { dirname } from 'node:path';
import { EngineError, ErrorKind } from './errors';

type Db = Level<string, unknown>;

/** Room for what LevelDB writes to open and to record a few deletes: a level-0 table of a full memtable (4 MiB) and more. */
export const RESERVE_BYTES = 8 * 1024 * 1024;

/** How often at most a missing reserve is made again, after writes succeed. */
const RESTORE_INTERVAL_MS = 10_000;

/** Whether err is the file system's "No space left on device" (or a quota's), as LevelDB and node:fs report it. */
export function isNoSpace(err: unknown): boolean {
  for (let e = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e.code === 'ENOSPC' || e.code === 'EDQUOT') return true;
    if (typeof e.message === 'string' && /No space left on device|Disk quota exceeded/.test(e.message)) return true;
  }
  return false;
}

export class SpaceReserve {
  private lastRestore = 0;

  constructor(
    readonly path: string,
    readonly bytes = RESERVE_BYTES,
  ) {}

  /** Gives the space back to the file system; false when there was no reserve to give. */
  release(): boolean {
    if (!existsSync(this.path)) return false;
    rmSync(this.path, { force: true });
    return true;
  }

  /**
   * Makes the reserve when it is missing and the file system has room to spare (twice its
   * size), so that making it never takes the last free bytes. Never throws. Synchronous (a few
   * milliseconds, rarely): no write of it is left running when the database closes.
   */
  restore(): void {
    this.lastRestore = Date.now();
    if (existsSync(this.path)) return;
    const tmp = `${this.path}.tmp`;
    try {
      const fs = statfsSync(dirname(this.path));
      if (fs.bavail * fs.bsize < 2 * this.bytes) return;
      // Written, not truncated: a sparse file would reserve nothing.
      writeFileSync(tmp, Buffer.alloc(this.bytes), { mode: 0o600 });
      renameSync(tmp, this.path);
    } catch {
      rmSync(tmp, { force: true });
    }
  }

  /** restore(), at most once per interval (after writes). */
  restoreSoon(): void {
    if (Date.now() - this.lastRestore >= RESTORE_INTERVAL_MS) this.restore();
  }
}

const noSpace = (db: Db, err: unknown): EngineError =>
  new EngineError(ErrorKind.ResourceExhausted, `no space left on device for the database ${db.location}: free some space and retry`, {
    cause: err,
  });

/** Opens db; on ENOSPC gives up the reserve and tries once more. */
export async function openWithReserve(db: Db, reserve: SpaceReserve): Promise<void> {
  try {
    await db.open();
  } catch (err) {
    if (!isNoSpace(err) || !reserve.release()) throw err;
    await db.open();
  }
  reserve.restore();
}

/**
 * Makes db's writes (put, del, batch in both forms) survive a full disk: on ENOSPC the database
 * is closed, the reserve given up, the database opened again and the write tried once more;
 * ResourceExhausted if it still fails. Patches the instance, so every holder of db gets it.
 *
 * Why reopen before the retry: a log write that failed half way leaves a torn record, and
 * LevelDB's writer goes on as if it were whole, so the records after it in the log's block are
 * lost when the log is read again (a container record written after the reserve went was gone
 * after a restart). Reopening reads the log up to the torn record (acknowledged writes all come
 * before it) and starts a new one. Closing before the reserve goes keeps a write already queued
 * behind the failed one from landing after the torn record: on the still full disk it fails too
 * and retries after the reopen. While one recovery runs, new writes wait for it.
 */
export function guardWrites(db: Db, reserve: SpaceReserve): void {
  let recovering: Promise<void> | undefined;
  const recover = (): Promise<void> =>
    (recovering ??= (async () => {
      try {
        await db.close();
        reserve.release();
        await db.open();
      } finally {
        recovering = undefined;
      }
    })());
  const write = async <T>(attempt: () => Promise<T>): Promise<T> => {
    await recovering?.catch(() => undefined);
    // A recovery that could not open the database again is retried by the next write.
    if (db.status === 'closed') await recover().catch(() => undefined);
    try {
      const result = await attempt();
      reserve.restoreSoon();
      return result;
    } catch (err) {
      if (!isNoSpace(err)) throw err;
      try {
        await recover();
        return await attempt();
      } catch (again) {
        throw isNoSpace(again) ? noSpace(db, again) : again;
      }
    }
  };
  type Op = { type: 'put'; key: string; value: unknown } | { type: 'del'; key: string };
  const put = db.put.bind(db) as (key: string, value: unknown, options?: object) => Promise<void>;
  const del = db.del.bind(db) as (key: string, options?: object) => Promise<void>;
  const batch = db.batch.bind(db) as (ops?: Op[], options?: object) => unknown;
  const patched = db as unknown as Record<string, unknown>;
  patched.put = (key: string, value: unknown, options?: object) => write(() => put(key, value, options));
  patched.del = (key: string, options?: object) => write(() => del(key, options));
  patched.batch = (ops?: Op[], options?: object) => {
    if (ops) return write(() => batch(ops, options) as Promise<void>);
    // A chained batch: its operations are recorded, so that a failed write can be made again as one array batch.
    const chained = batch() as ReturnType<Db['batch']>;
    const recorded: Op[] = [];
    return new Proxy(chained, {
      get(target, prop, receiver) {
        if (prop === 'put')
          return (key: string, value: unknown) => (recorded.push({ type: 'put', key, value }), target.put(key, value), receiver);
        if (prop === 'del') return (key: string) => (recorded.push({ type: 'del', key }), target.del(key), receiver);
        if (prop === 'write') {
          let first = true;
          return () => write(() => (first ? ((first = false), target.write()) : (batch(recorded) as Promise<void>)));
        }
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  };
}
