/**
 * Interop proof: Debian's `ctr` (containerd 1.6) imports an OCI archive into containerd-lite
 * with containerd's own Go client — Leases.Create with containerd.io/gc.expire, Content.Write
 * with the containerd-lease header, Content.Update of gc.ref labels, Images.Update then
 * Images.Create, Leases.Delete — lists it, and removes it with --sync, after which the
 * collector has taken every blob. Plus ctr's lease commands.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContentClient } from '../src/content/client';
import { GcClient } from '../src/gc/client';
import { ImagesClient } from '../src/images/client';
import { Label, MediaType, sha256 } from '../src/oci';
import { useCtrInterop } from './ctr-interop';

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' };

/** A one-layer OCI image archive (tar of an OCI layout) tagged "1.0"; answers its blob digests. */
function ociArchive(dir: string): { tar: string; manifest: string; config: string; layer: string } {
  const layout = join(dir, 'layout');
  const blobs = join(layout, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const blob = (data: string | Buffer): { digest: string; size: number } => {
    const bytes = Buffer.from(data);
    const digest = sha256(bytes);
    writeFileSync(join(blobs, digest.slice(7)), bytes);
    return { digest, size: bytes.length };
  };
  const files = join(dir, 'files');
  mkdirSync(files);
  writeFileSync(join(files, 'hello.txt'), 'hello\n');
  execFileSync('tar', ['-cf', join(dir, 'layer.tar'), '-C', files, 'hello.txt']);
  const layerBytes = execFileSync('cat', [join(dir, 'layer.tar')]);
  const layer = blob(layerBytes);
  const platform = { os: 'linux', architecture: ARCH[process.arch] ?? process.arch };
  const config = blob(JSON.stringify({ ...platform, rootfs: { type: 'layers', diff_ids: [layer.digest] }, config: {} }));
  const manifest = blob(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, ...config },
      layers: [{ mediaType: MediaType.ociLayer, ...layer }],
    }),
  );
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: MediaType.ociManifest, ...manifest, platform, annotations: { 'org.opencontainers.image.ref.name': '1.0' } }],
    }),
  );
  const tar = join(dir, 'image.tar');
  execFileSync('tar', ['-cf', tar, '-C', layout, '.']);
  return { tar, manifest: manifest.digest, config: config.digest, layer: layer.digest };
}

describe('ctr images and leases against containerd-lite', function () {
  this.timeout(60_000);
  const interop = useCtrInterop('ctl-images-ctr-', ['tar']);
  const { ctr } = interop;

  const blobFiles = () => readdirSync(join(interop.tmp.root, 'containerd-lite', 'content', 'blobs', 'sha256')).sort();

  it('imports an OCI archive, lists it, keeps it through GC and removes it with rm --sync', async () => {
    const archive = ociArchive(interop.tmp.base);
    await ctr('images', 'import', '--no-unpack', '--base-name', 'example.com/app', archive.tar);

    const images = new ImagesClient(interop.wire, 'interop');
    const image = await images.get('example.com/app:1.0');
    assert.equal(image.target.digest, archive.manifest);
    assert.equal(image.target.mediaType, MediaType.ociManifest);
    const ls = await ctr('images', 'ls');
    assert.match(ls, /example\.com\/app:1\.0\s+application\/vnd\.oci\.image\.manifest\.v1\+json\s+sha256:/);
    assert.equal((await ctr('leases', 'ls', '-q')).trim(), '', 'the import lease is gone');

    // The importer labelled the manifest with its children, so they survive a collection.
    const content = new ContentClient(interop.wire, 'interop');
    const labels = (await content.info(archive.manifest)).labels;
    assert.deepEqual(
      Object.entries(labels)
        .filter(([k]) => k.startsWith(Label.gcRefContent))
        .map(([, v]) => v)
        .sort(),
      [archive.config, archive.layer].sort(),
    );
    const gc = new GcClient(interop.wire);
    // Only the archive's index.json goes: ctr stores it but keeps no image of it without --index-name.
    // (The collection ctr's lease removal scheduled may have taken it already, so this one
    // removes it or finds it gone.)
    const kept = await gc.collect();
    assert.ok(kept.contentRemoved <= 1, `${kept.contentRemoved} removed`);
    assert.deepEqual(blobFiles(), [archive.manifest, archive.config, archive.layer].map((d) => d.slice(7)).sort());

    await ctr('images', 'rm', '--sync', 'example.com/app:1.0');
    assert.deepEqual(await images.list(), []);
    assert.deepEqual(blobFiles(), []);
  });

  it('creates, lists and removes leases', async () => {
    const created = await ctr('leases', 'create', '--id', 'my-lease', '--expires', '1h');
    assert.match(created, /my-lease/);
    const ls = await ctr('leases', 'ls');
    assert.match(ls, /my-lease\s+.*containerd\.io\/gc\.expire=/);
    await ctr('leases', 'rm', 'my-lease');
    assert.equal((await ctr('leases', 'ls', '-q')).trim(), '');
  });
});
