/**
 * Garbage collection end to end: containerd-lite and a snapshotter service (native driver) on
 * unix sockets, driven through the light clients as the CLI and the unpacker drive them.
 */
import { ErrorKind, isKind } from '@ctl/proto';
import { waitFor } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Content } from '../src/content/content';
import { bytesSource, hasBlob, writeBlob } from '../src/content/helpers';
import { Label, MediaType, sha256 } from '../src/oci';
import { type Instance, startInstance } from './instance';

const hex = (digest: string) => digest.slice('sha256:'.length);

async function put(content: Content, data: string | Buffer, labels: Record<string, string> = {}, lease?: string): Promise<string> {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  return writeBlob(content, `ref-${randomBytes(6).toString('hex')}`, bytesSource(bytes), {
    expected: sha256(bytes),
    total: bytes.length,
    labels,
    lease,
  });
}

async function readAll(content: Content, digest: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of content.read(digest)) chunks.push(c);
  return Buffer.concat(chunks);
}

describe('garbage collection', function () {
  this.timeout(30_000);

  describe('of content and leases', () => {
    let inst: Instance;
    beforeEach(async () => {
      inst = await startInstance({ gc: { delayMs: 20, ingestExpiryMs: 60_000 } });
    });
    afterEach(async () => inst.teardown());

    it('keeps content written under a lease, and removes it once the lease is deleted', async () => {
      const content = inst.content('ns1');
      await inst.leases('ns1').create({ id: 'pull' });
      const leased = await put(content, 'held by the lease', {}, 'pull');
      const loose = await put(content, 'held by nothing');
      const r = await inst.gc.collect();
      assert.equal(r.contentRemoved, 1);
      assert.equal(r.blobsRemoved, 1);
      assert.ok(r.bytesFreed >= 'held by nothing'.length);
      assert.ok(await hasBlob(content, leased));
      assert.ok(!(await hasBlob(content, loose)));
      assert.deepEqual(inst.blobFiles(), [hex(leased)]);

      await inst.leases('ns1').delete('pull', { sync: true });
      assert.ok(!(await hasBlob(content, leased)));
      assert.deepEqual(inst.blobFiles(), []);
    });

    it('keeps a blob another namespace still has, and the file until the last record goes', async () => {
      await inst.leases('a').create({ id: 'l' });
      const digest = await put(inst.content('a'), 'shared', {}, 'l');
      await put(inst.content('b'), 'shared');
      await inst.gc.collect();
      assert.ok(await hasBlob(inst.content('a'), digest));
      assert.ok(!(await hasBlob(inst.content('b'), digest)));
      assert.deepEqual(inst.blobFiles(), [hex(digest)]);
    });

    it('keeps an image with its index, manifests, config and layers through gc.ref labels', async () => {
      const content = inst.content();
      await inst.leases().create({ id: 'import' });
      const layer = await put(content, 'layer tar', {}, 'import');
      const config = await put(content, '{"config":1}', {}, 'import');
      const manifest = await put(
        content,
        'manifest',
        { [`${Label.gcRefContent}config`]: config, [`${Label.gcRefContent}l.0`]: layer },
        'import',
      );
      // A cycle: the index and the manifest name each other.
      const index = await put(content, 'index', { [`${Label.gcRefContent}m.0`]: manifest }, 'import');
      await content.update({ digest: manifest, labels: { [`${Label.gcRefContent}back`]: index } }, [`labels.${Label.gcRefContent}back`]);
      const other = await put(content, 'unreferenced', {}, 'import');
      await inst.images().create({ name: 'example.com/app:1', target: { mediaType: MediaType.ociIndex, digest: index, size: 5 } });
      await inst.leases().delete('import', { sync: true });
      for (const d of [layer, config, manifest, index]) assert.ok(await hasBlob(content, d), d);
      assert.ok(!(await hasBlob(content, other)));

      // Deleting the image (without sync) schedules a collection that takes the rest.
      await inst.images().delete('example.com/app:1');
      await waitFor('the scheduled collection', async () => ((await content.list()).length === 0 ? true : undefined), 5000);
      assert.deepEqual(inst.blobFiles(), []);
    });

    it('keeps content labelled containerd.io/gc.root', async () => {
      const root = await put(inst.content(), 'root', { [Label.gcRoot]: new Date().toISOString() });
      await inst.gc.collect();
      assert.ok(await hasBlob(inst.content(), root));
    });

    it('removes an expired lease and what only it held', async () => {
      const leases = inst.leases();
      // Expired already (a lease still takes writes until a collection removes it, as in containerd).
      await leases.create({ id: 'old', labels: { [Label.gcExpire]: new Date(Date.now() - 1000).toISOString() } });
      await leases.create({ id: 'young', labels: { [Label.gcExpire]: new Date(Date.now() + 3_600_000).toISOString() } });
      const expiring = await put(inst.content(), 'expiring', {}, 'old');
      const held = await put(inst.content(), 'held', {}, 'young');
      const r = await inst.gc.collect();
      assert.equal(r.leasesRemoved, 1);
      assert.deepEqual(
        (await leases.list()).map((l) => l.id),
        ['young'],
      );
      assert.ok(!(await hasBlob(inst.content(), expiring)));
      assert.ok(await hasBlob(inst.content(), held));
    });

    it('removes an orphan blob file, and leaves files that are not blob names', async () => {
      const digest = sha256('orphan');
      const file = join(inst.tmp.root, 'containerd-lite', 'content', 'blobs', 'sha256', hex(digest));
      writeFileSync(file, 'orphan');
      chmodSync(file, 0o444);
      // Not a blob name: left alone.
      writeFileSync(join(inst.tmp.root, 'containerd-lite', 'content', 'blobs', 'sha256', 'README'), 'x');
      const r = await inst.gc.collect();
      assert.equal(r.blobsRemoved, 1);
      assert.ok(!existsSync(file));
      assert.deepEqual(inst.blobFiles(), ['README']);
    });

    it('removes ingests of a deleted lease; leaves those of a live lease, and unleased ones until they expire', async () => {
      const content = inst.content();
      await inst.leases().create({ id: 'l1' });
      for (const [ref, lease] of [
        ['leased', 'l1'],
        ['free', undefined],
      ] as const) {
        const w = await content.writer(ref, { lease });
        await w.write(Buffer.from(`partial ${ref}`));
        await w.close();
      }
      let r = await inst.gc.collect();
      assert.equal(r.ingestsRemoved, 0);
      assert.deepEqual((await content.listStatuses()).map((s) => s.ref).sort(), ['free', 'leased']);

      await inst.leases().delete('l1', { sync: true });
      assert.deepEqual(
        (await content.listStatuses()).map((s) => s.ref),
        ['free'],
      );

      // Not written to for longer than the expiry (backdated on disk).
      const [dir] = inst.ingestDirs();
      const old = new Date(Date.now() - 120_000);
      utimesSync(join(inst.tmp.root, 'containerd-lite', 'content', 'ingest', dir!, 'data'), old, old);
      // Held open by a writer: stays even though stale.
      const w = await content.writer('free');
      r = await inst.gc.collect();
      assert.equal(r.ingestsRemoved, 0);
      await w.close();
      utimesSync(join(inst.tmp.root, 'containerd-lite', 'content', 'ingest', dir!, 'data'), old, old);
      r = await inst.gc.collect();
      assert.equal(r.ingestsRemoved, 1);
      assert.deepEqual(await content.listStatuses(), []);
    });

    it('runs collections one at a time; calls while one waits share it', async () => {
      const gc = inst.local.gc;
      const first = gc.collect();
      // Not started yet: a second call shares it.
      assert.equal(gc.collect(), first);
      await new Promise((resolve) => setImmediate(resolve));
      // Started: later calls get the next one, which they share.
      const second = gc.collect();
      assert.notEqual(second, first);
      assert.equal(gc.collect(), second);
      const [a, b] = await Promise.all([first, second]);
      assert.notEqual(a, b);
    });

    it('reports an unreachable snapshotter and still collects content', async () => {
      await inst.local.gc.recordSnapshotter('native');
      await put(inst.content(), 'garbage');
      const r = await inst.gc.collect();
      assert.equal(r.contentRemoved, 1);
      assert.equal(r.errors.length, 1);
      assert.match(r.errors[0]!, /snapshotter "native"/);
    });
  });

  describe('of snapshots', () => {
    let inst: Instance;
    beforeEach(async () => {
      inst = await startInstance({ snapshotter: true, gc: { delayMs: 20 } });
      await inst.local.gc.recordSnapshotter('native');
    });
    afterEach(async () => inst.teardown());

    async function layer(key: string, name: string, parent: string): Promise<void> {
      const snaps = inst.snapshots!;
      await snaps.prepare(key, parent);
      await snaps.commit(name, key);
    }

    const names = async (): Promise<string[]> => {
      const out: string[] = [];
      await inst.snapshots!.walk((i) => {
        out.push(i.name);
      });
      return out.sort();
    };

    it("keeps an image's snapshot chain through the config's gc.ref.snapshot label and removes unreferenced ones of ours only", async () => {
      const ns = 'ns1';
      await inst.leases(ns).create({ id: 'unpack' });
      await inst.leases(ns).addResource('unpack', { type: 'snapshots/native', id: 'sha256:c2' });
      await layer(`${ns}/extract-1`, `${ns}/sha256:c1`, '');
      await layer(`${ns}/extract-2`, `${ns}/sha256:c2`, `${ns}/sha256:c1`);
      // Ours but unreferenced: a committed chain of two and an active snapshot.
      await layer(`${ns}/extract-3`, `${ns}/sha256:o1`, '');
      await layer(`${ns}/extract-4`, `${ns}/sha256:o2`, `${ns}/sha256:o1`);
      await inst.snapshots!.prepare(`${ns}/gone-container`, `${ns}/sha256:o2`);
      // Not ours: no namespace prefix, an unknown namespace, containerd's own naming.
      await layer('foreign-key', 'foreign', '');
      await layer('zz/extract', 'zz/sha256:c1', '');
      await layer('ns1/7/extract', 'ns1/8/sha256:c1', '');
      // A foreign child keeps its parent of ours.
      await layer(`${ns}/extract-5`, `${ns}/sha256:p`, '');
      await inst.snapshots!.prepare('foreign-child', `${ns}/sha256:p`);

      const content = inst.content(ns);
      const config = await put(content, '{"rootfs":{}}', { [`${Label.gcRefSnapshot}native`]: 'sha256:c2' }, 'unpack');
      const manifest = await put(content, 'manifest', { [`${Label.gcRefContent}config`]: config }, 'unpack');
      await inst.images(ns).create({ name: 'app', target: { mediaType: MediaType.ociManifest, digest: manifest, size: 8 } });
      await inst.leases(ns).delete('unpack', { sync: true });

      assert.deepEqual(
        await names(),
        ['foreign', 'foreign-child', 'ns1/8/sha256:c1', 'ns1/sha256:c1', 'ns1/sha256:c2', 'ns1/sha256:p', 'zz/sha256:c1'].sort(),
      );

      await inst.images(ns).delete('app', { sync: true });
      assert.deepEqual(await names(), ['foreign', 'foreign-child', 'ns1/8/sha256:c1', 'ns1/sha256:p', 'zz/sha256:c1'].sort());
      assert.deepEqual(await content.list(), []);
    });

    it('keeps a namespace that still has snapshots from being deleted', async () => {
      await inst.leases('team').create({ id: 'l' });
      await inst.leases('team').delete('l');
      // Held, so that the collection the lease delete schedules cannot take it first.
      await inst.snapshots!.prepare('team/c1', '', { [Label.gcRoot]: 'test' });
      await inst.snapshots!.prepare('team-other/c1', '');
      await assert.rejects(
        inst.namespaces.delete('team'),
        (e: unknown) => isKind(e, ErrorKind.FailedPrecondition) && /1 snapshot/.test((e as Error).message),
      );
      await inst.snapshots!.remove('team/c1');
      await inst.namespaces.delete('team');
    });

    it('keeps leased snapshots, labelled roots and registered roots', async () => {
      await inst.leases().create({ id: 'ctr' });
      await inst.leases().addResource('ctr', { type: 'snapshots/native', id: 'leased' });
      await inst.snapshots!.prepare('default/leased', '');
      await inst.snapshots!.prepare('default/rooted', '', {});
      await inst.snapshots!.update({ name: 'default/rooted', labels: { [Label.gcRoot]: 'x' } });
      await inst.snapshots!.prepare('default/container-1', '');
      await inst.snapshots!.prepare('default/loose', '');
      inst.local.gc.registerRoots(() => [{ type: 'snapshot', namespace: 'default', snapshotter: 'native', key: 'container-1' }]);
      const r = await inst.gc.collect();
      assert.equal(r.snapshotsRemoved, 1);
      assert.deepEqual(await names(), ['default/container-1', 'default/leased', 'default/rooted']);
      await inst.leases().delete('ctr', { sync: true });
      assert.deepEqual(await names(), ['default/container-1', 'default/rooted']);
    });

    it('never loses a snapshot an unpack made under a lease while collections run', async function () {
      this.timeout(30_000);
      const ns = 'unpack';
      const leases = inst.leases(ns);
      const content = inst.content(ns);
      const images = inst.images(ns);
      const snaps = inst.snapshots!;
      let stop = false;
      const gcLoop = (async () => {
        while (!stop) await inst.gc.collect();
      })();
      const unpacker = async (w: number): Promise<string[]> => {
        const chain: string[] = [];
        let parent = '';
        for (let i = 0; i < 8; i++) {
          const lease = await leases.create();
          const key = `extract-${w}-${i}`;
          const name = `sha256:${w}-${i}`;
          // The lease holds both names before the snapshotter makes them.
          await leases.addResource(lease.id, { type: 'snapshots/native', id: key });
          await leases.addResource(lease.id, { type: 'snapshots/native', id: name });
          await snaps.prepare(`${ns}/${key}`, parent);
          await snaps.commit(`${ns}/${name}`, `${ns}/${key}`);
          parent = `${ns}/${name}`;
          chain.push(parent);
          const config = await put(content, `config ${w} ${i}`, { [`${Label.gcRefSnapshot}native`]: name }, lease.id);
          await images
            .update({ name: `img-${w}`, target: { mediaType: MediaType.ociConfig, digest: config, size: 1 } })
            .catch(async (err: unknown) => {
              if (!isKind(err, ErrorKind.NotFound)) throw err;
              await images.create({ name: `img-${w}`, target: { mediaType: MediaType.ociConfig, digest: config, size: 1 } });
            });
          await leases.delete(lease.id);
          await snaps.stat(parent);
        }
        return chain;
      };
      let chains: string[][];
      try {
        chains = await Promise.all([unpacker(0), unpacker(1)]);
      } finally {
        stop = true;
        await gcLoop;
      }
      await inst.gc.collect();
      // Each image's top snapshot keeps its whole chain.
      assert.deepEqual(await names(), chains.flat().sort());
      assert.equal((await content.list()).length, 2);
    });

    it('never loses referenced content while writes, image creation and collections run together', async function () {
      this.timeout(30_000);
      const content = inst.content('busy');
      const leases = inst.leases('busy');
      const images = inst.images('busy');
      let stop = false;
      let collections = 0;
      const gcLoop = (async () => {
        while (!stop) {
          await inst.gc.collect();
          collections++;
        }
      })();
      const made: { name: string; manifest: string; layer: string }[] = [];
      const writer = async (w: number): Promise<void> => {
        for (let i = 0; i < 15; i++) {
          const lease = await leases.create();
          const layerBytes = randomBytes(2048 + i);
          const layerDigest = await put(content, layerBytes, {}, lease.id);
          // Garbage in between, so collections have something to do.
          await put(content, randomBytes(64));
          const manifest = await put(content, `manifest ${w} ${i} ${layerDigest}`, { [`${Label.gcRefContent}l.0`]: layerDigest }, lease.id);
          const name = `img-${w}-${i}`;
          await images.create({ name, target: { mediaType: MediaType.ociManifest, digest: manifest, size: 1 } });
          await leases.delete(lease.id);
          made.push({ name, manifest, layer: layerDigest });
          const got = await readAll(content, layerDigest);
          assert.equal(sha256(got), layerDigest);
        }
      };
      try {
        await Promise.all([writer(0), writer(1), writer(2)]);
      } finally {
        stop = true;
        await gcLoop;
      }
      await inst.gc.collect();
      assert.ok(collections > 3, `only ${collections} collections ran`);
      for (const m of made) {
        assert.equal((await images.get(m.name)).target.digest, m.manifest);
        assert.equal(sha256(await readAll(content, m.manifest)), m.manifest);
        assert.equal(sha256(await readAll(content, m.layer)), m.layer);
      }
      // Only the images' blobs are left, on disk too.
      assert.equal((await content.list()).length, made.length * 2);
      assert.equal(inst.blobFiles().length, made.length * 2);
      assert.deepEqual(await leases.list(), []);
    });
  });
});
