import { ErrorKind, isKind } from '@ctl/proto';
import { strict as assert } from 'node:assert';
import { MediaType, sha256 } from '../src/oci';
import type { Images } from '../src/images/images';
import { type Instance, startInstance } from './instance';

const kind = (k: ErrorKind) => (e: unknown) => isKind(e, k);
const target = (text: string, mediaType: string = MediaType.ociManifest) => ({ mediaType, digest: sha256(text), size: text.length });

// One suite for both implementations: the gRPC client the CLI uses and the local store.
for (const via of ['gRPC client', 'local store'] as const)
  describe(`images (${via})`, () => {
    let inst: Instance;
    let imagesOf: (ns?: string) => Images;
    beforeEach(async () => {
      inst = await startInstance();
      imagesOf = (ns = 'default') => (via === 'gRPC client' ? inst.images(ns) : inst.local.images.namespace(ns));
    });
    afterEach(async () => inst.teardown());

    it('creates, gets, lists, updates and deletes, keeping timestamps', async () => {
      const images = imagesOf('team');
      const created = await images.create({
        name: 'docker.io/library/busybox:latest',
        target: { ...target('m1'), annotations: { a: '1' } },
        labels: { k: 'v' },
      });
      assert.equal(created.name, 'docker.io/library/busybox:latest');
      assert.deepEqual(created.target, { ...target('m1'), annotations: { a: '1' } });
      assert.deepEqual(created.labels, { k: 'v' });
      assert.ok(created.createdAt.getTime() > 0);
      const got = await images.get('docker.io/library/busybox:latest');
      assert.deepEqual(got, created);
      await new Promise((r) => setTimeout(r, 5));
      const updated = await images.update({ name: created.name, target: target('m2') });
      assert.deepEqual(updated.target, target('m2'));
      assert.deepEqual(updated.labels, {});
      assert.equal(updated.createdAt.getTime(), created.createdAt.getTime());
      assert.ok(updated.updatedAt.getTime() > created.updatedAt.getTime());
      assert.deepEqual(
        (await images.list()).map((i) => i.name),
        [created.name],
      );
      // Using a namespace made it.
      assert.deepEqual(
        (await inst.namespaces.list()).map((n) => n.name),
        ['team'],
      );
      assert.deepEqual(await imagesOf('other').list(), []);
      await images.delete(created.name);
      await assert.rejects(images.get(created.name), kind(ErrorKind.NotFound));
      await assert.rejects(images.delete(created.name), kind(ErrorKind.NotFound));
    });

    it('updates only the fields a mask names', async () => {
      const images = imagesOf();
      await images.create({
        name: 'img',
        target: { ...target('m1'), annotations: { keep: '1', drop: '2' } },
        labels: { keep: 'a', drop: 'b' },
      });
      let img = await images.update({ name: 'img', labels: { added: 'c', drop: '' } }, ['labels.added', 'labels.drop']);
      assert.deepEqual(img.labels, { keep: 'a', added: 'c' });
      assert.deepEqual(img.target.digest, sha256('m1'));
      img = await images.update({ name: 'img', target: target('m2', MediaType.ociIndex) }, ['target']);
      assert.deepEqual(img.target, target('m2', MediaType.ociIndex));
      assert.deepEqual(img.labels, { keep: 'a', added: 'c' });
      img = await images.update({ name: 'img', labels: { only: 'x' } }, ['labels']);
      assert.deepEqual(img.labels, { only: 'x' });
      img = await images.update({ name: 'img', target: { ...target('ignored'), annotations: { n: '1' } } }, ['annotations.n']);
      assert.deepEqual(img.target, { ...target('m2', MediaType.ociIndex), annotations: { n: '1' } });
      await assert.rejects(images.update({ name: 'img', labels: {} }, ['name']), kind(ErrorKind.InvalidArgument));
      await assert.rejects(images.update({ name: 'img', labels: {} }), kind(ErrorKind.InvalidArgument), 'a full update needs a target');
      await assert.rejects(images.update({ name: 'nope', target: target('x') }), kind(ErrorKind.NotFound));
    });

    it('filters by name, target digest, media type and labels (filters OR-ed, selectors AND-ed)', async () => {
      const images = imagesOf();
      await images.create({ name: 'a/one:1', target: target('1'), labels: { tier: 'base', 'containerd.io/x': 'y' } });
      await images.create({ name: 'a/two:1', target: target('2', MediaType.ociIndex), labels: { tier: 'app' } });
      await images.create({ name: 'b/three:1', target: target('3') });
      const names = async (filters: string[]) => (await images.list(filters)).map((i) => i.name);
      assert.deepEqual(await names(['name==a/two:1']), ['a/two:1']);
      assert.deepEqual(await names(['name~=^a/']), ['a/one:1', 'a/two:1']);
      assert.deepEqual(await names([`target.digest==${sha256('3')}`]), ['b/three:1']);
      assert.deepEqual(await names([`target.mediatype==${MediaType.ociIndex}`]), ['a/two:1']);
      assert.deepEqual(await names(['labels.tier==base', 'name==b/three:1']), ['a/one:1', 'b/three:1']);
      assert.deepEqual(await names(['labels.tier,name~=two']), ['a/two:1']);
      assert.deepEqual(await names(['labels."containerd.io/x"==y']), ['a/one:1']);
      await assert.rejects(images.list(['==x']), kind(ErrorKind.InvalidArgument));
    });

    it('refuses duplicates, bad names and bad targets', async () => {
      const images = imagesOf();
      await images.create({ name: 'img', target: target('1') });
      await assert.rejects(images.create({ name: 'img', target: target('2') }), kind(ErrorKind.AlreadyExists));
      // Racing creates of one name: exactly one wins.
      const race = await Promise.allSettled([
        images.create({ name: 'raced', target: target('a') }),
        images.create({ name: 'raced', target: target('b') }),
      ]);
      assert.deepEqual(race.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
      await assert.rejects(images.create({ name: '', target: target('2') }), kind(ErrorKind.InvalidArgument));
      await assert.rejects(images.create({ name: 'x'.repeat(5000), target: target('2') }), kind(ErrorKind.InvalidArgument));
      await assert.rejects(images.create({ name: 'bad\nname', target: target('2') }), kind(ErrorKind.InvalidArgument));
      await assert.rejects(images.create({ name: 'd', target: { ...target('2'), digest: 'sha256:abc' } }), kind(ErrorKind.InvalidArgument));
      await assert.rejects(images.create({ name: 'd', target: { ...target('2'), digest: 'nonsense' } }), kind(ErrorKind.InvalidArgument));
      await assert.rejects(images.create({ name: 'm', target: { ...target('2'), mediaType: '' } }), kind(ErrorKind.InvalidArgument));
      await assert.rejects(images.create({ name: 's', target: { ...target('2'), size: -1 } }), kind(ErrorKind.InvalidArgument));
      await assert.rejects(
        images.create({ name: 'l', target: target('2'), labels: { k: 'v'.repeat(4096) } }),
        kind(ErrorKind.InvalidArgument),
      );
      await assert.rejects(images.get(''), kind(ErrorKind.InvalidArgument));
      assert.deepEqual(
        (await images.list()).map((i) => i.name),
        ['img', 'raced'],
      );
    });

    it('keeps a namespace with images or leases from being deleted', async () => {
      await imagesOf('busy').create({ name: 'img', target: target('1') });
      await assert.rejects(
        inst.namespaces.delete('busy'),
        (e: unknown) => isKind(e, ErrorKind.FailedPrecondition) && /1 image/.test((e as Error).message),
      );
      await imagesOf('busy').delete('img');
      const lease = await inst.leases('busy').create();
      await assert.rejects(
        inst.namespaces.delete('busy'),
        (e: unknown) => isKind(e, ErrorKind.FailedPrecondition) && /1 lease/.test((e as Error).message),
      );
      await inst.leases('busy').delete(lease.id);
      await inst.namespaces.delete('busy');
    });
  });
