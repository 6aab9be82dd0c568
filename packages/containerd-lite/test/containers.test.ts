/**
 * Containers (containerd.services.containers.v1): the same behaviour from the local store and
 * over gRPC through the light client; GC roots; the namespace in-use check.
 */
import { ErrorKind, isKind, unavailable } from '@ctl/proto';
import { strict as assert } from 'node:assert';
import { type Any, type Container, type Containers, type NewContainer, SPEC_TYPE_URL } from '../src/containers/containers';
import { type Instance, startInstance } from './instance';

const spec = (args: string[] = ['sh']): Any => ({
  typeUrl: SPEC_TYPE_URL,
  value: Buffer.from(JSON.stringify({ ociVersion: '1.0.2', process: { args } })),
});
const RUNC = 'io.containerd.runc.v2';

const container = (id: string, more: Partial<NewContainer> = {}): NewContainer => ({
  id,
  image: 'docker.io/library/busybox:latest',
  runtime: { name: RUNC },
  spec: spec(),
  snapshotter: 'native',
  snapshotKey: id,
  labels: {},
  ...more,
});

async function rejects(work: Promise<unknown>, kind: ErrorKind, message?: RegExp): Promise<void> {
  await assert.rejects(work, (err: unknown) => {
    assert.ok(isKind(err, kind), `expected ${kind}, got ${String(err)}`);
    if (message) assert.match((err as Error).message, message);
    return true;
  });
}

describe('containers', function () {
  this.timeout(30_000);
  let inst: Instance;
  before(async () => {
    inst = await startInstance();
  });
  after(async () => inst.teardown());

  let n = 0;
  for (const via of ['local store', 'gRPC'] as const) {
    describe(`through the ${via}`, () => {
      let ns: string;
      let containers: Containers;
      beforeEach(() => {
        ns = `ns${++n}`;
        containers = via === 'gRPC' ? inst.containers(ns) : inst.local.containers.namespace(ns);
      });

      it('creates, gets, lists and deletes, keeping every field', async () => {
        const options: Any = { typeUrl: 'containerd.runc.v1.Options', value: Buffer.from([8, 1]) };
        const ext: Any = { typeUrl: 'example.com/Ext', value: Buffer.from('ext') };
        const before = Date.now();
        const created = await containers.create(
          container('web', { labels: { app: 'web' }, runtime: { name: RUNC, options }, extensions: { ext } }),
        );
        assert.ok(created.createdAt.getTime() >= before - 1000);
        assert.deepEqual(created.createdAt, created.updatedAt);
        const got = await containers.get('web');
        const expectFields = (c: Container) => {
          assert.equal(c.id, 'web');
          assert.equal(c.image, 'docker.io/library/busybox:latest');
          assert.deepEqual(c.labels, { app: 'web' });
          assert.equal(c.runtime.name, RUNC);
          assert.equal(c.runtime.options?.typeUrl, options.typeUrl);
          assert.deepEqual(Buffer.from(c.runtime.options!.value), options.value);
          assert.equal(c.spec?.typeUrl, SPEC_TYPE_URL);
          assert.deepEqual(JSON.parse(Buffer.from(c.spec!.value).toString()).process.args, ['sh']);
          assert.equal(c.snapshotter, 'native');
          assert.equal(c.snapshotKey, 'web');
          assert.deepEqual(Object.keys(c.extensions), ['ext']);
          assert.deepEqual(Buffer.from(c.extensions.ext!.value), Buffer.from('ext'));
        };
        expectFields(created);
        expectFields(got);
        assert.deepEqual(got.createdAt, created.createdAt);
        assert.deepEqual(
          (await containers.list()).map((c) => c.id),
          ['web'],
        );
        await containers.delete('web');
        await rejects(containers.get('web'), ErrorKind.NotFound, /container "web" not found/);
        await rejects(containers.delete('web'), ErrorKind.NotFound);
        assert.deepEqual(await containers.list(), []);
      });

      it('refuses bad ids, duplicates, a missing runtime or spec, and a snapshot key without snapshotter', async () => {
        for (const id of ['', 'a/b', '-a', 'a..b', 'a_', 'x'.repeat(77), 'a b']) {
          await rejects(containers.create(container(id)), ErrorKind.InvalidArgument);
        }
        await containers.create(container('x'.repeat(76)));
        await containers.create(container('a.b-c_d9'));
        await rejects(containers.create(container('a.b-c_d9')), ErrorKind.AlreadyExists, /already exists/);
        await rejects(containers.create(container('c1', { runtime: { name: '' } })), ErrorKind.InvalidArgument, /runtime name/);
        await rejects(containers.create(container('c1', { spec: undefined })), ErrorKind.InvalidArgument, /spec/);
        await rejects(containers.create(container('c1', { snapshotter: '' })), ErrorKind.InvalidArgument, /snapshotter/);
        await rejects(containers.create(container('c1', { labels: { '': 'x' } })), ErrorKind.InvalidArgument);
        // No snapshot at all is fine (a rootfs that is not a snapshot).
        await containers.create(container('c1', { snapshotter: '', snapshotKey: '' }));
        await rejects(containers.get('nope'), ErrorKind.NotFound);
        await rejects(containers.get('bad/id'), ErrorKind.InvalidArgument);
      });

      it('filters on id, image, runtime.name, labels, snapshotter and snapshot key', async () => {
        await containers.create(container('a', { image: 'alpine', labels: { tier: 'front', 'x.y': 'z' } }));
        await containers.create(container('b', { image: 'busybox', runtime: { name: 'io.containerd.ctl.v1' }, labels: { tier: 'back' } }));
        await containers.create(container('c', { image: 'busybox', snapshotter: 'overlayfs', snapshotKey: 'c-root' }));
        const ids = async (...filters: string[]) => (await containers.list(filters)).map((c) => c.id);
        assert.deepEqual(await ids(), ['a', 'b', 'c']);
        assert.deepEqual(await ids('id==b'), ['b']);
        assert.deepEqual(await ids('image==busybox'), ['b', 'c']);
        assert.deepEqual(await ids('runtime.name==io.containerd.ctl.v1'), ['b']);
        assert.deepEqual(await ids('labels.tier==front'), ['a']);
        assert.deepEqual(await ids('labels."x.y"==z'), ['a']);
        assert.deepEqual(await ids('labels.tier'), ['a', 'b']);
        assert.deepEqual(await ids('snapshotter==overlayfs'), ['c']);
        assert.deepEqual(await ids('snapshotkey==c-root'), ['c']);
        assert.deepEqual(await ids('image==busybox,labels.tier!=back'), ['c']);
        assert.deepEqual(await ids('id==a', 'id==c'), ['a', 'c']);
        assert.deepEqual(await ids('id~=^[ab]$'), ['a', 'b']);
        await rejects(containers.list(['labels."unterminated==x']), ErrorKind.InvalidArgument);
      });

      it('updates with field masks as containerd does', async () => {
        const c = await containers.create(
          container('u', { labels: { a: '1', b: '2' }, extensions: { e1: { typeUrl: 't', value: Buffer.from('1') } } }),
        );
        await new Promise((r) => setTimeout(r, 5));
        // One label set, one removed (empty value), the rest kept.
        let u = await containers.update({ id: 'u', labels: { a: '9', b: '' } }, ['labels.a', 'labels.b']);
        assert.deepEqual(u.labels, { a: '9' });
        assert.equal(u.image, c.image);
        assert.deepEqual(u.createdAt, c.createdAt);
        assert.ok(u.updatedAt.getTime() > c.updatedAt.getTime());
        u = await containers.update({ id: 'u', image: 'alpine', snapshotKey: 'u2', spec: spec(['true']) }, [
          'image',
          'snapshotkey',
          'spec',
        ]);
        assert.equal(u.image, 'alpine');
        assert.equal(u.snapshotKey, 'u2');
        assert.deepEqual(JSON.parse(Buffer.from(u.spec!.value).toString()).process.args, ['true']);
        u = await containers.update({ id: 'u', extensions: { e2: { typeUrl: 't', value: Buffer.from('2') } } }, ['extensions.e2']);
        assert.deepEqual(Object.keys(u.extensions).sort(), ['e1', 'e2']);
        u = await containers.update({ id: 'u' }, ['extensions.e1']);
        assert.deepEqual(Object.keys(u.extensions), ['e2']);
        // Immutable fields and unknown paths.
        for (const path of ['id', 'runtime', 'snapshotter', 'runtime.name', 'created_at', 'nonsense']) {
          await rejects(
            containers.update({ ...container('u'), snapshotter: 'other', runtime: { name: 'other' } }, [path]),
            ErrorKind.InvalidArgument,
            /cannot update/,
          );
        }
        // The spec cannot be removed (validated as on create).
        await rejects(containers.update({ id: 'u' }, ['spec']), ErrorKind.InvalidArgument, /spec/);
        // A full update: runtime name and snapshotter must be repeated unchanged.
        await rejects(containers.update({ ...container('u'), snapshotter: 'overlayfs' }), ErrorKind.InvalidArgument, /snapshotter/);
        await rejects(containers.update({ ...container('u'), runtime: { name: 'other' } }), ErrorKind.InvalidArgument, /runtime/);
        u = await containers.update(container('u', { labels: { only: 'this' }, image: 'final' }));
        assert.deepEqual(u.labels, { only: 'this' });
        assert.equal(u.image, 'final');
        assert.equal(u.snapshotKey, 'u');
        assert.deepEqual(u.extensions, {});
        // The runtime's options survive a full update (runtime is not replaced).
        assert.equal((await containers.get('u')).runtime.name, RUNC);
        await rejects(containers.update(container('missing')), ErrorKind.NotFound);
        await rejects(containers.update({ id: '' }, ['image']), ErrorKind.InvalidArgument);
      });

      it('keeps namespaces apart, and a namespace with containers cannot be deleted', async () => {
        const other = via === 'gRPC' ? inst.containers(`${ns}-other`) : inst.local.containers.namespace(`${ns}-other`);
        await containers.create(container('same'));
        await other.create(container('same', { image: 'elsewhere' }));
        assert.equal((await containers.get('same')).image, 'docker.io/library/busybox:latest');
        assert.equal((await other.get('same')).image, 'elsewhere');
        await rejects(inst.namespaces.delete(ns), ErrorKind.FailedPrecondition, /1 container/);
        await containers.delete('same');
        await inst.namespaces.delete(ns);
        await rejects(containers.get('same'), ErrorKind.NotFound);
        assert.equal((await other.get('same')).image, 'elsewhere');
      });
    });
  }

  it('streams a long list one container per message (ListStream), beyond one message size bound', async () => {
    const containers = inst.containers('many');
    // ~40 KiB of spec each: 500 of them are ~20 MiB, more than one 16 MiB message could carry.
    const big = { typeUrl: SPEC_TYPE_URL, value: Buffer.alloc(40 * 1024, 'x') };
    const local = inst.local.containers.namespace('many');
    await Promise.all(Array.from({ length: 500 }, (_, i) => local.create(container(`c${String(i).padStart(3, '0')}`, { spec: big }))));
    const listed = await containers.list();
    assert.equal(listed.length, 500);
    assert.equal(listed[499]!.id, 'c499');
    assert.equal(listed[0]!.spec!.value.length, 40 * 1024);
    assert.deepEqual(
      (await containers.list(['id==c042'])).map((c) => c.id),
      ['c042'],
    );
  });
});

describe('containers and garbage collection', function () {
  this.timeout(30_000);
  let inst: Instance;
  beforeEach(async () => {
    inst = await startInstance({ snapshotter: true, gc: { delayMs: 20 } });
    await inst.local.gc.recordSnapshotter('native');
  });
  afterEach(async () => inst.teardown());

  const names = async (): Promise<string[]> => {
    const out: string[] = [];
    await inst.snapshots!.walk((i) => {
      out.push(i.name);
    });
    return out.sort();
  };

  it('keeps a container snapshot (and its parent) while the container exists', async () => {
    await inst.snapshots!.prepare('default/base-key', '');
    await inst.snapshots!.commit('default/base', 'default/base-key');
    await inst.snapshots!.prepare('default/web', 'default/base');
    await inst.snapshots!.prepare('default/loose', '');
    await inst.containers().create(container('web'));
    let r = await inst.gc.collect();
    assert.equal(r.snapshotsRemoved, 1);
    assert.deepEqual(await names(), ['default/base', 'default/web']);
    // Pointing the container at another key releases the old one.
    await inst.snapshots!.prepare('default/web2', 'default/base');
    await inst.containers().update({ id: 'web', snapshotKey: 'web2' }, ['snapshotkey']);
    r = await inst.gc.collect();
    assert.deepEqual(await names(), ['default/base', 'default/web2']);
    // Labels reference too: a content blob and another snapshot stay while the container has them.
    await inst.snapshots!.prepare('default/extra', '');
    const w = await inst.content().writer('ref-held');
    await w.write(Buffer.from('held'));
    const { sha256 } = await import('../src/oci');
    const digest = await w.commit(4, sha256('held'));
    await inst
      .containers()
      .update({ id: 'web', labels: { 'containerd.io/gc.ref.content.x': digest, 'containerd.io/gc.ref.snapshot.native': 'extra' } }, [
        'labels',
      ]);
    r = await inst.gc.collect();
    assert.equal(r.contentRemoved, 0);
    assert.deepEqual(await names(), ['default/base', 'default/extra', 'default/web2']);
    await inst.containers().update({ id: 'web' }, ['labels']);
    r = await inst.gc.collect();
    assert.equal(r.contentRemoved, 1);
    assert.deepEqual(await names(), ['default/base', 'default/web2']);
    // A delete check (the tasks service's) can refuse.
    let allowed = false;
    inst.local.containers.registerDeleteCheck(async (ns, id) =>
      ns === 'default' && id === 'web' && !allowed ? 'it has a task' : undefined,
    );
    await assert.rejects(
      inst.containers().delete('web'),
      (err: unknown) => isKind(err, ErrorKind.FailedPrecondition) && /has a task/.test((err as Error).message),
    );
    allowed = true;
    // A release (the network's) runs only after the checks; when it fails the record stays.
    const released: string[] = [];
    let releaseFails = true;
    inst.local.containers.registerRelease(async (_ns, c) => {
      released.push(c.id);
      if (releaseFails) throw unavailable('netd is down');
    });
    await assert.rejects(inst.containers().delete('web'), /netd is down/);
    assert.equal((await inst.containers().get('web')).id, 'web', 'the record stays to be deleted again');
    releaseFails = false;
    // Deleting the container schedules a collection that takes the rest.
    await inst.containers().delete('web');
    assert.deepEqual(released, ['web', 'web']);
    for (let i = 0; i < 100 && (await names()).length > 0; i++) await new Promise((res) => setTimeout(res, 50));
    assert.deepEqual(await names(), []);
  });
});
