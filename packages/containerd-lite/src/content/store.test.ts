/**
 * What the conformance suite cannot see from outside: the files on disk, and what the store
 * makes of what a crash leaves behind.
 */
import { type Database, openDatabase } from '@ctl/proto';
import { ErrorKind, isKind } from '@ctl/proto/errors';
import { type TempInstance, tempInstance } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SCHEMA, namespaceKey } from '../layout';
import { ingestKey } from './ingests';
import { ContentStore } from './store';

const sha256 = (data: string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

describe('content store on disk', () => {
  let tmp: TempInstance;
  let close: () => Promise<void>;
  let db: Database;
  const root = () => join(tmp.root, 'content');

  async function open(): Promise<ContentStore> {
    db = await openDatabase(join(tmp.root, 'meta'), SCHEMA);
    close = () => db.close();
    return ContentStore.open(db, root());
  }

  beforeEach(() => {
    tmp = tempInstance('ctl-content-unit-');
    close = async () => undefined;
  });
  afterEach(async () => {
    await close();
    tmp.remove();
  });

  it('stores blobs read-only under blobs/sha256/<hex> and makes the namespace', async () => {
    const store = await open();
    const w = await store.namespace('fresh').writer('r');
    await w.write(Buffer.from('data'));
    const digest = await w.commit();
    const st = statSync(join(root(), 'blobs', 'sha256', digest.slice(7)));
    assert.equal(st.mode & 0o777, 0o444);
    assert.deepEqual(await db.get(namespaceKey('fresh')), { labels: {} });
    assert.equal(await store.inUse('fresh'), '1 blob');
    const pending = await store.namespace('fresh').writer('pending');
    await pending.close();
    assert.equal(await store.inUse('fresh'), '1 blob and 1 ingest');
    await store.namespace('fresh').abort('pending');
    assert.equal(await store.inUse('other'), undefined);
    assert.deepEqual(readdirSync(join(root(), 'ingest')), []);
  });

  it('removes half-made and half-removed ingests when it opens', async () => {
    let store = await open();
    const w = await store.namespace('default').writer('kept');
    await w.write(Buffer.from('abc'));
    await w.close();
    mkdirSync(join(root(), 'ingest', '.tmp-abc-1234'));
    mkdirSync(join(root(), 'ingest', '.trash-def-5678'));
    writeFileSync(join(root(), 'ingest', '.trash-def-5678', 'data'), 'x');
    await close();
    store = await open();
    assert.equal(readdirSync(join(root(), 'ingest')).filter((n) => n.startsWith('.')).length, 0);
    assert.equal((await store.namespace('default').status('kept')).offset, 3);
  });

  it('recovers from a crash between the rename into blobs/ and the record', async () => {
    let store = await open();
    const ns = store.namespace('default');
    const w = await ns.writer('crashed', { expected: sha256('whole') });
    await w.write(Buffer.from('whole'));
    await w.close();
    // What the crash leaves: the data renamed into blobs/, no record, the ingest without data.
    const key = ingestKey('default', 'crashed');
    renameSync(join(root(), 'ingest', key, 'data'), store.blobPath(sha256('whole')));
    await close();

    store = await open();
    const again = store.namespace('default');
    await assert.rejects(again.info(sha256('whole')), (e: unknown) => isKind(e, ErrorKind.NotFound));
    const resumed = await again.writer('crashed');
    assert.equal((await resumed.status()).offset, 0);
    await resumed.write(Buffer.from('whole'));
    // The blob file already there is whole (only verified bytes are ever renamed there): reused.
    assert.equal(await resumed.commit(), sha256('whole'));
    assert.equal((await again.info(sha256('whole'))).size, 5);
  });

  it('keeps a blob file while another namespace holds it, and removes it with the last record', async () => {
    const store = await open();
    for (const ns of ['a', 'b']) {
      const w = await store.namespace(ns).writer('r');
      await w.write(Buffer.from('shared'));
      await w.commit();
    }
    const path = store.blobPath(sha256('shared'));
    await store.namespace('a').delete(sha256('shared'));
    assert.ok(statSync(path).isFile());
    await store.namespace('b').delete(sha256('shared'));
    assert.throws(() => statSync(path), /ENOENT/);
  });

  it('ends a writer whose ingest is aborted under it', async () => {
    const store = await open();
    const ns = store.namespace('default');
    const w = await ns.writer('gone');
    await w.write(Buffer.from('abc'));
    await ns.abort('gone');
    await assert.rejects(w.write(Buffer.from('def')), (e: unknown) => isKind(e, ErrorKind.FailedPrecondition));
    assert.deepEqual(readdirSync(join(root(), 'ingest')), []);
    const again = await ns.writer('gone');
    assert.equal((await again.status()).offset, 0);
    await again.close();
  });
});
