import { ErrorKind, isKind, openDatabase, type Database } from '@ctl/proto';
import { type TempInstance, tempInstance } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { ContentStore } from '../content/store';
import { GcLock } from '../gc/lock';
import { SCHEMA, leaseResourceKey } from '../layout';
import { sha256 } from '../oci';
import { LeaseStore } from './store';

const kind = (k: ErrorKind) => (e: unknown) => isKind(e, k);

describe('lease store', () => {
  let tmp: TempInstance;
  let db: Database;
  let leases: LeaseStore;
  let content: ContentStore;

  beforeEach(async () => {
    tmp = tempInstance('ctl-leases-');
    db = await openDatabase(join(tmp.root, 'meta'), SCHEMA);
    const lock = new GcLock();
    leases = new LeaseStore(db, { lock });
    content = await ContentStore.open(db, join(tmp.root, 'content'), { lock });
  });
  afterEach(async () => {
    await db.close();
    tmp.remove();
  });

  it("takes the random ids containerd's clients make (ctr: nanoseconds, '-', 4 base64url characters), not a '/'", async () => {
    for (const id of ['566229709-RZu-', '1-_a_', '7--x9', 'a.b']) await leases.namespace('a').create({ id });
    assert.deepEqual((await leases.namespace('a').list()).map((l) => l.id).sort(), ['1-_a_', '566229709-RZu-', '7--x9', 'a.b']);
    for (const id of ['a/b', 'a b', 'x'.repeat(257), 'tab\there']) {
      await assert.rejects(leases.namespace('a').create({ id }), kind(ErrorKind.InvalidArgument));
    }
  });

  it("releases the operation leases of earlier daemon runs at start-up, never clients' leases or this run's", async () => {
    const earlier = new LeaseStore(db, { run: 'earlier' });
    const dead = await earlier.namespace('a').createForOperation(3600_000);
    await earlier.namespace('a').addResource(dead.id, { type: 'snapshots/overlayfs', id: 'extract-1 sha256:x' });
    await leases
      .namespace('a')
      .create({ id: 'by-ctr', labels: { 'containerd.io/gc.expire': new Date(Date.now() + 3600_000).toISOString() } });
    const mine = await leases.namespace('b').createForOperation(3600_000);
    assert.equal(mine.labels['ctl.daemon-run'], leases.run);
    assert.notEqual(leases.run, 'earlier');
    assert.equal(await leases.releaseEarlierRuns(), 1);
    const left = await leases.all();
    assert.deepEqual(left.leases.map((l) => `${l.namespace}/${l.id}`).sort(), ['a/by-ctr', `b/${mine.id}`]);
    assert.deepEqual(left.dangling, [], 'the dead lease went with its resources');
  });

  it('lists every lease with its resources for the collector, and resources whose lease is gone', async () => {
    await leases.namespace('a').create({ id: 'l1', labels: { x: 'y' } });
    await leases.namespace('b').create({ id: 'l1' });
    await leases.namespace('a').addResource('l1', { type: 'ingests', id: 'ref/with/slashes' });
    await db.put(leaseResourceKey('a', 'ghost', 'content', sha256('x')), { type: 'content', id: sha256('x') });
    const { leases: all, dangling } = await leases.all();
    assert.deepEqual(
      all.map((l) => [l.namespace, l.id, l.resources]),
      [
        ['a', 'l1', [{ type: 'ingests', id: 'ref/with/slashes' }]],
        ['b', 'l1', []],
      ],
    );
    assert.equal(dangling.length, 1);
    await leases.remove([{ namespace: 'a', id: 'l1' }], dangling);
    const after = await leases.all();
    assert.deepEqual(
      after.leases.map((l) => `${l.namespace}/${l.id}`),
      ['b/l1'],
    );
    assert.deepEqual(after.dangling, []);
  });

  it('fails a commit whose lease was deleted while the ingest was written, keeping the ingest', async () => {
    await leases.namespace('a').create({ id: 'l1' });
    const writer = await content.namespace('a').writer('ref', { lease: 'l1' });
    await writer.write(Buffer.from('data'));
    await leases.namespace('a').delete('l1');
    await assert.rejects(writer.commit(), kind(ErrorKind.NotFound));
    assert.deepEqual(await content.namespace('a').list(), []);
    assert.deepEqual(
      (await content.namespace('a').listStatuses()).map((s) => s.offset),
      [4],
    );
  });
});
