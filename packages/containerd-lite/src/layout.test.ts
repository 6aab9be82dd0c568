import { openDatabase, schemaVersion } from '@ctl/proto';
import { type TempInstance, tempInstance } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import { SCHEMA, namespaceKey } from './layout';

describe('containerd-lite schema', () => {
  let tmp: TempInstance;
  beforeEach(() => {
    tmp = tempInstance('ctl-layout-');
  });
  afterEach(() => tmp.remove());

  it('migrates a schema 1 store (namespaces only) to schema 2, keeping its records', async () => {
    const v1 = { version: 1, migrations: SCHEMA.migrations.slice(0, 1) };
    const old = await openDatabase(tmp.root, v1);
    await old.put(namespaceKey('team'), { labels: { a: 'b' } });
    assert.equal(await schemaVersion(old), 1);
    await old.close();

    const db = await openDatabase(tmp.root, SCHEMA);
    try {
      assert.equal(await schemaVersion(db), 2);
      assert.deepEqual(await db.get(namespaceKey('team')), { labels: { a: 'b' } });
    } finally {
      await db.close();
    }
  });
});
