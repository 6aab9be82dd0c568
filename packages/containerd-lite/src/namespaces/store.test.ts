import { ErrorKind, isKind, openDatabase } from '@ctl/proto';
import { type TempInstance, tempInstance } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import { SCHEMA } from '../layout';
import { NamespaceStore } from './store';

const kind = (k: ErrorKind) => (e: unknown) => isKind(e, k);

describe('namespace store', () => {
  let tmp: TempInstance;
  let store: NamespaceStore;
  let close: () => Promise<void>;

  beforeEach(async () => {
    tmp = tempInstance();
    const db = await openDatabase(tmp.root, SCHEMA);
    store = new NamespaceStore(db);
    close = () => db.close();
  });
  afterEach(async () => {
    await close();
    tmp.remove();
  });

  it('creates, gets, lists and deletes', async () => {
    await store.create({ name: 'b', labels: {} });
    await store.create({ name: 'a', labels: { team: 'x' } });
    assert.deepEqual(await store.get('a'), { name: 'a', labels: { team: 'x' } });
    assert.deepEqual(
      (await store.list()).map((n) => n.name),
      ['a', 'b'],
    );
    await store.delete('a');
    await assert.rejects(store.get('a'), kind(ErrorKind.NotFound));
    await assert.rejects(store.delete('a'), kind(ErrorKind.NotFound));
  });

  it('refuses duplicates, bad names and oversized labels', async () => {
    await store.create({ name: 'a', labels: {} });
    await assert.rejects(store.create({ name: 'a', labels: {} }), kind(ErrorKind.AlreadyExists));
    await assert.rejects(store.create({ name: 'a/b', labels: {} }), kind(ErrorKind.InvalidArgument));
    await assert.rejects(store.create({ name: 'c', labels: { k: 'v'.repeat(4096) } }), kind(ErrorKind.InvalidArgument));
    assert.deepEqual(
      (await store.list()).map((n) => n.name),
      ['a'],
    );
  });

  it('updates labels with containerd field-mask semantics', async () => {
    await store.create({ name: 'a', labels: { keep: '1', drop: '2' } });
    assert.deepEqual((await store.update({ name: 'a', labels: { added: '3', drop: '' } }, ['labels.added', 'labels.drop'])).labels, {
      keep: '1',
      added: '3',
    });
    assert.deepEqual((await store.update({ name: 'a', labels: { only: '4' } }, ['labels'])).labels, { only: '4' });
    assert.deepEqual((await store.update({ name: 'a', labels: { none: '5' } })).labels, { none: '5' });
    await assert.rejects(store.update({ name: 'a', labels: {} }, ['name']), kind(ErrorKind.InvalidArgument));
    await assert.rejects(store.update({ name: 'zz', labels: {} }), kind(ErrorKind.NotFound));
  });

  it('refuses to delete a namespace something still lives in', async () => {
    await store.create({ name: 'busy', labels: {} });
    store.registerInUseCheck(async (ns) => (ns === 'busy' ? '1 container' : undefined));
    await assert.rejects(
      store.delete('busy'),
      (e: unknown) => isKind(e, ErrorKind.FailedPrecondition) && /still has 1 container/.test((e as Error).message),
    );
    assert.equal((await store.get('busy')).name, 'busy');
  });
});
