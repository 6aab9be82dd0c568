import { strict as assert } from 'node:assert';
import { ErrorKind, isKind } from './errors';
import {
  type BatchIterator,
  FIRST_BATCH,
  LARGEST_BATCH,
  type Migration,
  SCHEMA_VERSION_KEY,
  inBatches,
  openDatabase,
  schemaVersion,
} from './db';
import { type TempInstance, tempInstance } from './testing';

describe('versioned databases', () => {
  let tmp: TempInstance;
  beforeEach(() => {
    tmp = tempInstance();
  });
  afterEach(() => tmp.remove());

  it('runs migrations in order and records the version', async () => {
    const ran: number[] = [];
    const step = (version: number): Migration => ({
      version,
      describe: `step ${version}`,
      migrate: async (db) => {
        ran.push(version);
        await db.put(`step/${version}`, true);
      },
    });
    const db = await openDatabase(tmp.root, { version: 3, migrations: [step(1), step(2), step(3)] });
    assert.deepEqual(ran, [1, 2, 3]);
    assert.equal(await schemaVersion(db), 3);
    await db.close();

    // Reopening at the same version runs nothing; a new version runs only the new step.
    ran.length = 0;
    const again = await openDatabase(tmp.root, { version: 4, migrations: [step(1), step(2), step(3), step(4)] });
    assert.deepEqual(ran, [4]);
    assert.equal(await again.get('step/4'), true);
    await again.close();
  });

  it('refuses a database written by a newer schema', async () => {
    const db = await openDatabase(tmp.root, { version: 1, migrations: [{ version: 1, describe: 'init', migrate: async () => undefined }] });
    await db.put(SCHEMA_VERSION_KEY, 7);
    await db.close();
    await assert.rejects(
      openDatabase(tmp.root, { version: 1, migrations: [{ version: 1, describe: 'init', migrate: async () => undefined }] }),
      (e: unknown) => isKind(e, ErrorKind.FailedPrecondition) && /schema version 7, newer than this build's 1/.test((e as Error).message),
    );
  });

  it('refuses a gap in the migrations', async () => {
    await assert.rejects(
      openDatabase(tmp.root, { version: 2, migrations: [{ version: 2, describe: 'skips one', migrate: async () => undefined }] }),
      /no migration from schema version 0 to 2/,
    );
  });
});

describe('inBatches', () => {
  let tmp: TempInstance;
  beforeEach(() => {
    tmp = tempInstance();
  });
  afterEach(() => tmp.remove());

  /** A real iterator, with the batch sizes asked of it and whether it was closed. */
  function recorded<T>(iterator: BatchIterator<T>): BatchIterator<T> & { sizes: number[]; closed: boolean } {
    const out = {
      sizes: [] as number[],
      closed: false,
      nextv: (size: number) => {
        out.sizes.push(size);
        return iterator.nextv(size);
      },
      close: async () => {
        out.closed = true;
        await iterator.close();
      },
    };
    return out;
  }

  const openWith = async (n: number) => {
    const db = await openDatabase(tmp.root, { version: 1, migrations: [{ version: 1, describe: 'init', migrate: async () => undefined }] });
    const batch = db.batch();
    for (let i = 0; i < n; i++) batch.put(`k/${String(i).padStart(5, '0')}`, i);
    await batch.write();
    return db;
  };

  it('asks for a small first batch, so a scan that finds little keeps no 1,000-entry buffer', async () => {
    const db = await openWith(3);
    const it = recorded(db.keys({ gt: 'k/', lt: 'k/\xff' }));
    const keys: string[] = [];
    for await (const key of inBatches(it)) keys.push(key);
    assert.deepEqual(keys, ['k/00000', 'k/00001', 'k/00002']);
    assert.equal(it.sizes[0], FIRST_BATCH);
    assert.ok(Math.max(...it.sizes) < LARGEST_BATCH, `sizes asked: ${it.sizes.join(',')}`);
    assert.ok(it.closed);
    await db.close();
  });

  it('reads a long range whole and in order, in growing batches', async () => {
    const db = await openWith(3000);
    const it = recorded(db.iterator({ gt: 'k/', lt: 'k/\xff' }));
    let n = 0;
    for await (const [key, value] of inBatches(it)) {
      assert.equal(key, `k/${String(n).padStart(5, '0')}`);
      assert.equal(value, n);
      n++;
    }
    assert.equal(n, 3000);
    assert.deepEqual(it.sizes.slice(0, 4), [FIRST_BATCH, FIRST_BATCH * 4, FIRST_BATCH * 16, LARGEST_BATCH]);
    assert.ok(it.closed);
    await db.close();
  });

  it('closes the iterator when the loop stops early', async () => {
    const db = await openWith(100);
    const it = recorded(db.values({ gt: 'k/', lt: 'k/\xff' }));
    for await (const value of inBatches(it)) if (value === 5) break;
    assert.ok(it.closed);
    await db.close();
  });
});
