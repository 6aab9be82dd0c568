/**
 * `ctl build -o …,compression=` against a real containerd-lite (root, real kernel, overlayfs):
 * the layers a build makes are zstd (or uncompressed) blobs with their OCI media types, the
 * base image's are kept, the image runs, an OCI archive carries the blobs as they are, and a
 * step cached with gzip layers is not taken as it is by a zstd build.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import type { Index, Manifest } from '../src/oci';
import { steps, useBuildEngine } from './build-engine';

const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
const GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const TAR = 'application/vnd.oci.image.layer.v1.tar';

async function tarFiles(data: Buffer): Promise<Map<string, Buffer>> {
  const extract = tar.extract();
  Readable.from([data]).pipe(extract as unknown as NodeJS.WritableStream);
  const files = new Map<string, Buffer>();
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    files.set(entry.header.name, Buffer.concat(chunks));
  }
  return files;
}

const DOCKERFILE = 'FROM busybox\nRUN echo zstd-run > /from-run\nCOPY a.txt /from-copy\n';

describe('ctl build: layer compression (root, real kernel)', function () {
  this.timeout(120_000);
  const engine = useBuildEngine('compression');

  async function blob(digest: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of engine.inst.content(engine.ns).read(digest)) chunks.push(Buffer.from(c));
    return Buffer.concat(chunks);
  }

  async function manifestOf(name: string): Promise<Manifest> {
    const image = await engine.inst.images(engine.ns).get(name);
    return JSON.parse((await blob(image.target.digest)).toString()) as Manifest;
  }

  it('compression=zstd: the new layers are zstd blobs, the base is kept, the image runs; a gzip cache is not reused', async () => {
    const gzipBuilt = await engine.build(DOCKERFILE, { 'a.txt': 'copied\n' }, { tags: ['example.com/layers:gzip'] });
    const gzipManifest = await manifestOf('example.com/layers:gzip');
    assert.deepEqual(
      gzipManifest.layers.map((l) => l.mediaType),
      [GZIP, GZIP, GZIP],
      'the default stays gzip',
    );
    for (const l of gzipManifest.layers) assert.deepEqual((await blob(l.digest)).subarray(0, 2), GZIP_MAGIC);

    const built = await engine.build(
      DOCKERFILE,
      { 'a.txt': 'copied\n' },
      { tags: ['example.com/layers:zstd'], output: { type: 'image', compression: 'zstd' } },
    );
    assert.deepEqual(
      steps(built)
        .filter((s) => /RUN|COPY/.test(s.name))
        .map((s) => s.cached),
      [false, false],
      'the steps cached with gzip layers run again',
    );
    const manifest = await manifestOf('example.com/layers:zstd');
    assert.deepEqual(
      manifest.layers.map((l) => l.mediaType),
      [GZIP, ZSTD, ZSTD],
    );
    assert.equal(manifest.layers[0]!.digest, gzipManifest.layers[0]!.digest, "the base image's layer is kept as it is");
    for (const l of manifest.layers.slice(1)) assert.deepEqual((await blob(l.digest)).subarray(0, 4), ZSTD_MAGIC, l.digest);
    assert.notEqual(built.result!.manifestDigest, gzipBuilt.result!.manifestDigest);

    assert.equal(
      await engine.runIn('example.com/layers:zstd', ['sh', '-c', 'grep -qx zstd-run /from-run && grep -qx copied /from-copy']),
      0,
    );

    const again = await engine.build(DOCKERFILE, { 'a.txt': 'copied\n' }, { output: { type: 'image', compression: 'zstd' } });
    assert.ok(
      steps(again)
        .filter((s) => /RUN|COPY/.test(s.name))
        .every((s) => s.cached),
      'a zstd build takes the zstd steps from the cache',
    );
    assert.equal(again.result!.manifestDigest, built.result!.manifestDigest);
    const gzipAgain = await engine.build(DOCKERFILE, { 'a.txt': 'copied\n' });
    assert.equal(gzipAgain.result!.manifestDigest, gzipBuilt.result!.manifestDigest, 'and a gzip build its own');
  });

  it('-o type=oci,compression=zstd: the archive keeps the zstd blobs and their media types', async () => {
    const dest = join(engine.inst.tmp.base, 'zstd.tar');
    const built = await engine.build(
      'FROM busybox\nRUN echo in-archive > /archived\n',
      {},
      { output: { type: 'oci', dest, compression: 'zstd' } },
    );
    const files = await tarFiles(readFileSync(dest));
    const index = JSON.parse(files.get('index.json')!.toString()) as Index;
    assert.equal(index.manifests[0]!.digest, built.result!.manifestDigest);
    const manifest = JSON.parse(files.get(`blobs/sha256/${built.result!.manifestDigest.slice(7)}`)!.toString()) as Manifest;
    const top = manifest.layers[manifest.layers.length - 1]!;
    assert.equal(top.mediaType, ZSTD);
    const layer = files.get(`blobs/sha256/${top.digest.slice(7)}`)!;
    assert.deepEqual(layer.subarray(0, 4), ZSTD_MAGIC);
    assert.equal(layer.length, top.size);
  });

  it('-o type=docker,compression=zstd: the layers are made zstd, the docker archive holds them as plain layer.tar', async () => {
    const dest = join(engine.inst.tmp.base, 'docker.tar');
    await engine.build(
      'FROM busybox\nRUN echo docker > /docker\n',
      {},
      {
        tags: ['example.com/layers:docker'],
        output: { type: 'docker', dest, compression: 'zstd' },
      },
    );
    const manifest = await manifestOf('example.com/layers:docker');
    assert.equal(manifest.layers[manifest.layers.length - 1]!.mediaType, ZSTD);
    const files = await tarFiles(readFileSync(dest));
    const [entry] = JSON.parse(files.get('manifest.json')!.toString()) as { Layers: string[] }[];
    const top = files.get(entry!.Layers[entry!.Layers.length - 1]!)!;
    assert.equal(top.subarray(257, 262).toString(), 'ustar', 'an uncompressed tar');
  });

  it('compression=uncompressed: plain tar layers; force-compression=true warns that base layers are kept', async () => {
    const built = await engine.build(
      'FROM busybox\nRUN echo plain > /plain\n',
      {},
      {
        tags: ['example.com/layers:plain'],
        output: { type: 'image', compression: 'uncompressed', forceCompression: true },
      },
    );
    const manifest = await manifestOf('example.com/layers:plain');
    const top = manifest.layers[manifest.layers.length - 1]!;
    assert.equal(top.mediaType, TAR);
    assert.equal((await blob(top.digest)).subarray(257, 262).toString(), 'ustar');
    const warnings = built.events.filter((e) => e.warning).map((e) => e.warning!.message);
    assert.ok(
      warnings.some((w) => /force-compression/.test(w)),
      warnings.join('\n'),
    );
  });

  it('refuses an unknown compression or output type as InvalidArgument', async () => {
    await assert.rejects(engine.build('FROM busybox\n', {}, { output: { type: 'image', compression: 'lz4' } }), /compression=lz4/);
    await assert.rejects(engine.build('FROM busybox\n', {}, { output: { type: 'local', dest: '/tmp/x' } }), /type=local/);
  });
});
