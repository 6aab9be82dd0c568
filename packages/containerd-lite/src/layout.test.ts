import { openDatabase, schemaVersion } from '@ctl/proto';
import { type TempInstance, tempInstance } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import {
  SCHEMA,
  buildCacheKey,
  contentKey,
  containerKey,
  namespaceKey,
  splitNamespaced,
  IMAGE_PREFIX,
  imageKey,
  leaseKey,
  volumeKey,
} from './layout';

describe('containerd-lite schema', () => {
  let tmp: TempInstance;
  beforeEach(() => {
    tmp = tempInstance('ctl-layout-');
  });
  afterEach(() => tmp.remove());

  it('migrates a schema 1 store (namespaces only) to the current schema, keeping its records', async () => {
    const v1 = { version: 1, migrations: SCHEMA.migrations.slice(0, 1) };
    const old = await openDatabase(tmp.root, v1);
    await old.put(namespaceKey('team'), { labels: { a: 'b' } });
    assert.equal(await schemaVersion(old), 1);
    await old.close();

    const db = await openDatabase(tmp.root, SCHEMA);
    try {
      assert.equal(await schemaVersion(db), SCHEMA.version);
      assert.deepEqual(await db.get(namespaceKey('team')), { labels: { a: 'b' } });
    } finally {
      await db.close();
    }
  });

  it('migrates a schema 2 store (content records) to schema 3, keeping its records', async () => {
    const v2 = { version: 2, migrations: SCHEMA.migrations.slice(0, 2) };
    const old = await openDatabase(tmp.root, v2);
    const record = { size: 1, labels: {}, created: '2020-01-01T00:00:00.000Z', updated: '2020-01-01T00:00:00.000Z' };
    await old.put(namespaceKey('team'), { labels: {} });
    await old.put(contentKey('team', `sha256:${'a'.repeat(64)}`), record);
    await old.close();

    const db = await openDatabase(tmp.root, SCHEMA);
    try {
      assert.equal(await schemaVersion(db), SCHEMA.version);
      assert.deepEqual(await db.get(contentKey('team', `sha256:${'a'.repeat(64)}`)), record);
    } finally {
      await db.close();
    }
  });

  it('migrates a schema 3 store (images, leases) to schema 4 (containers), keeping its records', async () => {
    const v3 = { version: 3, migrations: SCHEMA.migrations.slice(0, 3) };
    const old = await openDatabase(tmp.root, v3);
    const lease = { labels: {}, created: '2020-01-01T00:00:00.000Z' };
    await old.put(namespaceKey('team'), { labels: {} });
    await old.put(leaseKey('team', 'l1'), lease);
    await old.close();

    const db = await openDatabase(tmp.root, SCHEMA);
    try {
      assert.equal(await schemaVersion(db), SCHEMA.version);
      assert.deepEqual(await db.get(leaseKey('team', 'l1')), lease);
      assert.equal(await db.get(containerKey('team', 'c1')), undefined);
    } finally {
      await db.close();
    }
  });

  it('migrates a schema 4 store (containers) to schema 5 (volumes), keeping its records', async () => {
    const v4 = { version: 4, migrations: SCHEMA.migrations.slice(0, 4) };
    const old = await openDatabase(tmp.root, v4);
    const container = {
      labels: {},
      image: 'busybox',
      runtime: { name: 'io.containerd.runc.v2' },
      snapshotter: 'overlayfs',
      snapshotKey: 'c1',
      extensions: {},
      created: '2020-01-01T00:00:00.000Z',
      updated: '2020-01-01T00:00:00.000Z',
    };
    await old.put(namespaceKey('team'), { labels: {} });
    await old.put(containerKey('team', 'c1'), container);
    await old.close();

    const db = await openDatabase(tmp.root, SCHEMA);
    try {
      assert.equal(await schemaVersion(db), SCHEMA.version);
      assert.deepEqual(await db.get(containerKey('team', 'c1')), container);
      assert.equal(await db.get(volumeKey('team', 'v1')), undefined);
    } finally {
      await db.close();
    }
  });

  it('migrates a schema 5 store (volumes) to schema 6 (build cache), keeping its records', async () => {
    const v5 = { version: 5, migrations: SCHEMA.migrations.slice(0, 5) };
    const old = await openDatabase(tmp.root, v5);
    const volume = { labels: {}, created: '2020-01-01T00:00:00.000Z', driver: 'local' };
    await old.put(namespaceKey('team'), { labels: {} });
    await old.put(volumeKey('team', 'v1'), volume);
    await old.close();

    const db = await openDatabase(tmp.root, SCHEMA);
    try {
      assert.equal(await schemaVersion(db), 6);
      assert.deepEqual(await db.get(volumeKey('team', 'v1')), volume);
      assert.equal(await db.get(buildCacheKey('team', 'a'.repeat(64))), undefined);
    } finally {
      await db.close();
    }
  });

  it('splits namespaced keys whose names contain slashes', () => {
    assert.deepEqual(splitNamespaced(imageKey('ns1', 'docker.io/library/busybox:latest'), IMAGE_PREFIX), [
      'ns1',
      'docker.io/library/busybox:latest',
    ]);
  });
});
