import { ErrorKind, isKind, openDatabase, type Database } from '@ctl/proto';
import { type TempInstance, tempInstance } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import { SCHEMA, namespaceKey } from '../layout';
import { MediaType, sha256 } from '../oci';
import { type GcTrigger, emptyResult } from '../gc/gc';
import { ImageStore } from './store';

const target = { mediaType: MediaType.ociManifest, digest: sha256('m'), size: 1 };

describe('image store', () => {
  let tmp: TempInstance;
  let db: Database;

  beforeEach(async () => {
    tmp = tempInstance('ctl-images-');
    db = await openDatabase(tmp.root, SCHEMA);
  });
  afterEach(async () => {
    await db.close();
    tmp.remove();
  });

  it('makes the namespace on first use and lists every image for the collector', async () => {
    const store = new ImageStore(db);
    await store.namespace('a').create({ name: 'x/y:1', target });
    await store.namespace('ab').create({ name: 'z', target });
    assert.deepEqual(await db.get(namespaceKey('a')), { labels: {} });
    assert.deepEqual(await store.all(), [
      { namespace: 'a', name: 'x/y:1', target: target.digest },
      { namespace: 'ab', name: 'z', target: target.digest },
    ]);
    assert.deepEqual(
      (await store.namespace('a').list()).map((i) => i.name),
      ['x/y:1'],
    );
    assert.equal(await store.inUse('a'), '1 image');
    assert.equal(await store.inUse('b'), undefined);
  });

  it('schedules a collection after a delete, and runs one first with sync', async () => {
    const calls: string[] = [];
    const gc: GcTrigger = {
      schedule: () => void calls.push('schedule'),
      collect: async () => {
        calls.push('collect');
        return emptyResult();
      },
    };
    const store = new ImageStore(db, { gc });
    await store.namespace('a').create({ name: 'one', target });
    await store.namespace('a').create({ name: 'two', target });
    await store.namespace('a').delete('one');
    await store.namespace('a').delete('two', { sync: true });
    assert.deepEqual(calls, ['schedule', 'collect']);
    await assert.rejects(store.namespace('a').delete('two'), (e: unknown) => isKind(e, ErrorKind.NotFound));
    assert.deepEqual(calls, ['schedule', 'collect']);
  });
});
