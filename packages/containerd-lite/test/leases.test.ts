import { ErrorKind, isKind } from '@ctl/proto';
import { strict as assert } from 'node:assert';
import { sha256 } from '../src/oci';
import type { Leases } from '../src/leases/leases';
import { type Instance, startInstance } from './instance';

const kind = (k: ErrorKind) => (e: unknown) => isKind(e, k);

// One suite for both implementations: the gRPC client the CLI uses and the local store.
for (const via of ['gRPC client', 'local store'] as const)
  describe(`leases (${via})`, () => {
    let inst: Instance;
    let leasesOf: (ns?: string) => Leases;
    beforeEach(async () => {
      inst = await startInstance();
      leasesOf = (ns = 'default') => (via === 'gRPC client' ? inst.leases(ns) : inst.local.leases.namespace(ns));
    });
    afterEach(async () => inst.teardown());

    it('creates (named or with a random id), lists with filters, and deletes', async () => {
      const leases = leasesOf('team');
      const named = await leases.create({ id: 'import-1', labels: { 'containerd.io/gc.expire': '2099-01-01T00:00:00Z', kind: 'import' } });
      assert.equal(named.id, 'import-1');
      assert.deepEqual(named.labels, { 'containerd.io/gc.expire': '2099-01-01T00:00:00Z', kind: 'import' });
      assert.ok(named.createdAt.getTime() > 0);
      const random = await leases.create();
      assert.match(random.id, /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/);
      assert.deepEqual((await leases.list()).map((l) => l.id).sort(), [named.id, random.id].sort());
      assert.deepEqual(
        (await leases.list(['labels.kind==import'])).map((l) => l.id),
        ['import-1'],
      );
      assert.deepEqual(
        (await leases.list([`id==${random.id}`])).map((l) => l.id),
        [random.id],
      );
      assert.deepEqual(await leasesOf('other').list(), []);
      await assert.rejects(leases.create({ id: 'import-1' }), kind(ErrorKind.AlreadyExists));
      await assert.rejects(leases.create({ id: 'bad/id' }), kind(ErrorKind.InvalidArgument));
      await leases.delete('import-1', { sync: true });
      await assert.rejects(leases.delete('import-1'), kind(ErrorKind.NotFound));
      assert.deepEqual(
        (await leases.list()).map((l) => l.id),
        [random.id],
      );
    });

    it('adds, lists and deletes resources; an unknown lease is NotFound', async () => {
      const leases = leasesOf();
      await leases.create({ id: 'l1' });
      const digest = sha256('x');
      await leases.addResource('l1', { id: digest, type: 'content' });
      await leases.addResource('l1', { id: digest, type: 'content' });
      await leases.addResource('l1', { id: 'ref-1', type: 'ingests' });
      await leases.addResource('l1', { id: 'sha256:chain', type: 'snapshots/overlayfs' });
      const sorted = (rs: { id: string; type: string }[]) => rs.map((r) => `${r.type} ${r.id}`).sort();
      assert.deepEqual(sorted(await leases.listResources('l1')), [
        `content ${digest}`,
        'ingests ref-1',
        'snapshots/overlayfs sha256:chain',
      ]);
      await leases.deleteResource('l1', { id: 'ref-1', type: 'ingests' });
      assert.deepEqual(sorted(await leases.listResources('l1')), [`content ${digest}`, 'snapshots/overlayfs sha256:chain']);

      await assert.rejects(leases.addResource('missing', { id: digest, type: 'content' }), kind(ErrorKind.NotFound));
      await assert.rejects(leases.listResources('missing'), kind(ErrorKind.NotFound));
      await assert.rejects(leases.deleteResource('missing', { id: digest, type: 'content' }), kind(ErrorKind.NotFound));
      await assert.rejects(leases.addResource('l1', { id: 'not-a-digest', type: 'content' }), kind(ErrorKind.InvalidArgument));
      await assert.rejects(leases.addResource('l1', { id: 'k', type: 'snapshots' }), kind(ErrorKind.InvalidArgument));
      await assert.rejects(leases.addResource('l1', { id: 'k', type: 'containers' }), kind(ErrorKind.NotImplemented));
      // Deleting the lease drops its resources with it.
      await leases.delete('l1');
      await leases.create({ id: 'l1' });
      assert.deepEqual(await leases.listResources('l1'), []);
    });

    it('records a content write made with the containerd-lease header, ingest then blob', async () => {
      const leases = leasesOf();
      await leases.create({ id: 'w' });
      const content = inst.content();
      const writer = await content.writer('ref-a', { lease: 'w' });
      await writer.write(Buffer.from('leased bytes'));
      assert.deepEqual(await leases.listResources('w'), [{ id: 'ref-a', type: 'ingests' }]);
      const digest = await writer.commit();
      assert.deepEqual(await leases.listResources('w'), [{ id: digest, type: 'content' }]);
      // A lease that does not exist: NotFound at once, and nothing is written.
      await assert.rejects(content.writer('ref-b', { lease: 'nope' }), kind(ErrorKind.NotFound));
      assert.deepEqual(await content.listStatuses(), []);
      // Already there: the lease still takes the blob, as containerd's writer does.
      await leases.create({ id: 'w2' });
      await assert.rejects(content.writer('ref-c', { lease: 'w2', expected: digest }), kind(ErrorKind.AlreadyExists));
      assert.deepEqual(await leases.listResources('w2'), [{ id: digest, type: 'content' }]);
    });
  });
