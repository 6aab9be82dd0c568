import { strict as assert } from 'node:assert';
import { ErrorKind, isKind } from './errors';
import { type Migration, SCHEMA_VERSION_KEY, openDatabase, schemaVersion } from './db';
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
