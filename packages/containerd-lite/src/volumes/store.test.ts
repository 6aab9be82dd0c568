import { ErrorKind, isKind, openDatabase, type Database } from '@ctl/proto';
import { type TempInstance, tempInstance } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SCHEMA, namespaceKey } from '../layout';
import { VolumeStore } from './store';

describe('volume store', () => {
  let tmp: TempInstance;
  let db: Database;
  let root: string;

  beforeEach(async () => {
    tmp = tempInstance('ctl-volumes-');
    db = await openDatabase(join(tmp.root, 'meta'), SCHEMA);
    root = join(tmp.root, 'volumes');
  });
  afterEach(async () => {
    await db.close();
    tmp.remove();
  });

  const rejects = (p: Promise<unknown>, kind: ErrorKind, message: RegExp): Promise<void> =>
    assert.rejects(p, (err: unknown) => isKind(err, kind) && message.test((err as Error).message));

  it('makes volumes with their directories, the namespace on first use, and answers an existing one', async () => {
    const store = await VolumeStore.open(db, root);
    const volumes = store.namespace('a');
    const v = await volumes.create({ name: 'data', labels: { k: 'v' } });
    assert.deepEqual([v.name, v.driver, v.labels, v.anonymous, v.usedBy], ['data', 'local', { k: 'v' }, false, []]);
    assert.equal(v.mountpoint, join(root, 'a', 'data', '_data'));
    assert.equal(statSync(v.mountpoint).mode & 0o777, 0o755);
    assert.deepEqual(await db.get(namespaceKey('a')), { labels: {} });
    writeFileSync(join(v.mountpoint, 'f'), 'x');
    const again = await volumes.create({ name: 'data' });
    assert.deepEqual(again.labels, { k: 'v' }, 'the existing volume, unchanged');
    assert.ok(existsSync(join(v.mountpoint, 'f')));
    const anonymous = await volumes.create({ anonymous: true });
    assert.match(anonymous.name, /^[0-9a-f]{64}$/);
    assert.deepEqual(
      (await volumes.list()).map((x) => [x.name, x.anonymous]).sort(),
      [
        [anonymous.name, true],
        ['data', false],
      ].sort(),
    );
    assert.deepEqual(await store.namespace('b').list(), []);
    assert.equal(await store.inUse('a'), '2 volumes');
  });

  it('refuses bad names and drivers', async () => {
    const volumes = (await VolumeStore.open(db, root)).namespace('a');
    for (const name of ['a', '-x', 'a/b', '..', 'a b', 'x'.repeat(256)])
      await rejects(volumes.create({ name }), ErrorKind.InvalidArgument, /invalid volume name/);
    await rejects(volumes.create({ name: 'ok', driver: 'nfs' }), ErrorKind.InvalidArgument, /only "local"/);
    await rejects(volumes.get('missing'), ErrorKind.NotFound, /no such volume: missing/);
  });

  it('refuses to remove a volume in use, even with force; force only forgives a missing one', async () => {
    const store = await VolumeStore.open(db, root);
    let users = ['c1', 'c2'];
    store.registerUsage(async () => new Map([['data', users]]));
    const volumes = store.namespace('a');
    await volumes.create({ name: 'data' });
    assert.deepEqual((await volumes.get('data')).usedBy, ['c1', 'c2']);
    for (const force of [false, true])
      await rejects(volumes.remove('data', { force }), ErrorKind.FailedPrecondition, /volume data is in use by containers c1, c2/);
    assert.deepEqual(await volumes.prune({ all: true }), []);
    users = [];
    await volumes.remove('data');
    assert.deepEqual(readdirSync(join(root, 'a')), []);
    await rejects(volumes.remove('data'), ErrorKind.NotFound, /no such volume: data/);
    await volumes.remove('data', { force: true });
  });

  it('prunes unused anonymous volumes, or all unused ones', async () => {
    const store = await VolumeStore.open(db, root);
    const volumes = store.namespace('a');
    const anonymous = await volumes.create({ anonymous: true });
    const used = await volumes.create({ anonymous: true });
    await volumes.create({ name: 'named' });
    store.registerUsage(async () => new Map([[used.name, ['c1']]]));
    assert.deepEqual(await volumes.prune(), [anonymous.name]);
    assert.deepEqual(await volumes.prune({ all: true }), ['named']);
    assert.deepEqual(
      (await volumes.list()).map((v) => v.name),
      [used.name],
    );
  });

  it('sweeps the trash of an interrupted removal when it opens, and maps mount sources to names', async () => {
    mkdirSync(join(root, 'a', '.trash-0123', '_data'), { recursive: true });
    const store = await VolumeStore.open(db, root);
    assert.deepEqual(readdirSync(join(root, 'a')), []);
    assert.equal(store.nameOf('a', join(root, 'a', 'data', '_data')), 'data');
    assert.equal(store.nameOf('b', join(root, 'a', 'data', '_data')), undefined);
    assert.equal(store.nameOf('a', join(root, 'a', 'data')), undefined);
    assert.equal(store.nameOf('a', '/elsewhere/_data'), undefined);
  });
});
