import { LeaseStore } from '../src/leases/store';
import { ErrorKind, errorKind } from '@ctl/proto/errors';
import { strict as assert } from 'node:assert';
import { createReadStream, readFileSync, statSync, truncateSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { importArchive } from '../src/archive';
import type { ProgressEvent } from '../src/archive/common';
import { Annotation, Label, type Manifest, MediaType, sha256 } from '../src/oci';
import { format, hostPlatform } from '@ctl/proto/platforms';
import { type Fixture, OCI_LAYOUT, blob, blobEntry, fixture, sharedBusybox, image, sh, writeTar } from './archive-helpers';

const shared = sharedBusybox('ctl-archive-src-');

async function readJsonBlob<T>(f: Fixture, digest: string): Promise<T> {
  const chunks: Buffer[] = [];
  for await (const c of f.content.read(digest)) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString()) as T;
}

async function expectFailure(f: Fixture, promise: Promise<unknown>, kind: ErrorKind, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (err: Error) => {
    assert.equal(errorKind(err), kind, `${err.message} (${errorKind(err)})`);
    assert.match(err.message, pattern);
    return true;
  });
  assert.equal(f.images.records.size, 0, 'no image record after a failed import');
}

describe('importArchive', function () {
  this.timeout(30_000);
  let f: Fixture;
  beforeEach(async () => {
    f = await fixture();
  });
  afterEach(async () => {
    await f.teardown();
  });

  it('imports the shared.path OCI archive: blobs, GC labels, image record, manifests to unpack', async () => {
    const events: ProgressEvent[] = [];
    // Every writer opened gets the caller's lease.
    const leases: (string | undefined)[] = [];
    const content = Object.create(f.content) as typeof f.content;
    content.writer = (ref, opts) => {
      leases.push(opts?.lease);
      return f.content.writer(ref, opts);
    };
    await new LeaseStore(f.db).namespace('default').create({ id: 'test-lease' });
    const result = await importArchive(shared.path, { content, images: f.images, lease: 'test-lease', progress: (e) => events.push(e) });
    assert.ok(leases.length >= 4, `${leases.length} writers`);
    assert.deepEqual(new Set(leases), new Set(['test-lease']));
    assert.deepEqual(
      result.images.map((i) => i.name),
      ['docker.io/library/busybox:latest'],
    );
    const record = await f.images.get('docker.io/library/busybox:latest');
    assert.equal(record.target.digest, shared.digest);
    assert.equal(record.target.mediaType, MediaType.ociManifest);
    assert.equal(result.manifests.length, 1);
    assert.equal(result.manifests[0]!.digest, shared.digest);
    assert.equal(result.manifests[0]!.platform?.architecture, hostPlatform().architecture);
    assert.deepEqual(result.images[0]!.manifests, result.manifests);
    const manifest = await readJsonBlob<Manifest>(f, shared.digest);
    const labels = (await f.content.info(shared.digest)).labels;
    assert.equal(labels[`${Label.gcRefContent}config`], manifest.config.digest);
    assert.equal(labels[`${Label.gcRefContent}l.0`], manifest.layers[0]!.digest);
    assert.equal((await f.content.info(result.index.digest)).labels[`${Label.gcRefContent}m.0`], shared.digest);
    assert.equal((await f.content.info(manifest.layers[0]!.digest)).size, manifest.layers[0]!.size);
    const reading = events.filter((e) => e.event === 'reading');
    assert.equal(reading.at(-1)!.current, statSync(shared.path).size);
    assert.equal(reading.at(-1)!.total, statSync(shared.path).size);
    assert.ok(events.some((e) => e.event === 'saved' && e.name === `blobs/sha256/${manifest.layers[0]!.digest.slice(7)}`));
    assert.ok(events.some((e) => e.event === 'image' && e.name === 'docker.io/library/busybox:latest'));
    assert.deepEqual(await f.content.listStatuses(), [], 'no ingest left behind');

    // Again, from a stream: blobs already there are fine, the record is updated.
    const again = await importArchive(createReadStream(shared.path), { content: f.content, images: f.images });
    assert.equal(again.images[0]!.target.digest, shared.digest);
    assert.equal(f.images.records.size, 1);
  });

  it('names nothing when the step before naming (the unpack) fails, and hands it the manifests', async () => {
    let given: string[] = [];
    await assert.rejects(
      importArchive(shared.path, {
        content: f.content,
        images: f.images,
        beforeNaming: async (manifests) => {
          given = manifests.map((m) => m.digest);
          throw new Error('layer 0: diff id mismatch');
        },
      }),
      /diff id mismatch/,
    );
    assert.deepEqual(given, [shared.digest]);
    assert.equal(f.images.records.size, 0, 'no image record after a failed unpack');
  });

  it('imports skopeo docker-archive (uncompressed layers, symlinked layer dirs) as Docker schema2 under an index', async () => {
    const docker = join(f.dir, 'docker.tar');
    sh('skopeo', ['copy', '-q', `oci-archive:${shared.path}`, `docker-archive:${docker}:busybox:latest`]);
    const result = await importArchive(docker, { content: f.content, images: f.images });
    const record = await f.images.get('docker.io/library/busybox:latest');
    assert.equal(record.target.mediaType, MediaType.dockerManifest);
    assert.equal(record.target.annotations?.[Annotation.refName], 'latest');
    assert.equal(record.target.platform?.architecture, hostPlatform().architecture);
    const manifest = await readJsonBlob<Manifest>(f, record.target.digest);
    assert.equal(manifest.config.mediaType, MediaType.dockerConfig);
    assert.equal(manifest.layers.length, 1);
    assert.equal(manifest.layers[0]!.mediaType, MediaType.dockerLayer);
    const config = await readJsonBlob<{ rootfs: { diff_ids: string[] } }>(f, manifest.config.digest);
    assert.equal(manifest.layers[0]!.digest, config.rootfs.diff_ids[0], 'an uncompressed layer is named by its diff id');
    assert.deepEqual(
      result.manifests.map((m) => m.digest),
      [record.target.digest],
    );
    const index = await readJsonBlob<{ manifests: unknown[] }>(f, result.index.digest);
    assert.equal(index.manifests.length, 1);
  });

  it('imports archives compressed as a whole (tar.gz, tar.zst)', async () => {
    const gz = join(f.dir, 'busybox.tar.gz');
    sh('bash', ['-c', `gzip -c ${shared.path} > ${gz}`]);
    const events: ProgressEvent[] = [];
    let result = await importArchive(gz, { content: f.content, images: f.images, progress: (e) => events.push(e) });
    assert.equal(result.images[0]!.target.digest, shared.digest);
    assert.equal(events.filter((e) => e.event === 'reading').at(-1)!.current, statSync(gz).size, 'progress counts the bytes of the file');
    const docker = join(f.dir, 'docker.tar');
    const zst = join(f.dir, 'docker.tar.zst');
    sh('skopeo', ['copy', '-q', `oci-archive:${shared.path}`, `docker-archive:${docker}:busybox:zst`]);
    sh('zstd', ['-q', docker, '-o', zst]);
    result = await importArchive(createReadStream(zst), { content: f.content, images: f.images });
    assert.equal(result.images[0]!.name, 'docker.io/library/busybox:zst');
  });

  it('imports a skopeo zstd OCI archive with a tag-and-name ref.name', async () => {
    const zstd = join(f.dir, 'zstd.tar');
    sh('skopeo', [
      'copy',
      '-q',
      '--dest-compress',
      '--dest-compress-format',
      'zstd',
      `oci-archive:${shared.path}`,
      `oci-archive:${zstd}:busybox:zstd`,
    ]);
    const result = await importArchive(zstd, { content: f.content, images: f.images });
    assert.deepEqual(
      result.images.map((i) => i.name),
      ['docker.io/library/busybox:zstd'],
    );
    const manifest = await readJsonBlob<Manifest>(f, result.images[0]!.target.digest);
    assert.equal(manifest.layers[0]!.mediaType, MediaType.ociLayerZstd);
  });

  it('takes the OCI layout of a Docker ≥ 25 archive (oci-layout + manifest.json), or manifest.json when asked', async () => {
    const img = image(hostPlatform().architecture, 'layer-25');
    const index = {
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: [{ ...img.manifest.desc, annotations: { [Annotation.imageName]: 'docker.io/library/d25:1', [Annotation.refName]: '1' } }],
    };
    const manifestJson = [
      {
        Config: `blobs/sha256/${img.config.desc.digest.slice(7)}`,
        RepoTags: ['d25:1'],
        Layers: [`blobs/sha256/${img.layer.desc.digest.slice(7)}`],
      },
    ];
    const path = await writeTar(join(f.dir, 'd25.tar'), [
      ...img.blobs.map(blobEntry),
      { name: 'index.json', data: JSON.stringify(index) },
      { name: 'manifest.json', data: JSON.stringify(manifestJson) },
      OCI_LAYOUT,
      { name: 'repositories', data: '{"d25":{"1":"x"}}' },
    ]);
    const result = await importArchive(path, { content: f.content, images: f.images });
    assert.equal((await f.images.get('docker.io/library/d25:1')).target.digest, img.manifest.desc.digest);
    assert.equal(result.images[0]!.target.mediaType, MediaType.ociManifest);

    const g = await fixture();
    try {
      const forced = await importArchive(path, { content: g.content, images: g.images, format: 'docker-archive' });
      assert.equal(forced.images[0]!.name, 'docker.io/library/d25:1');
      assert.equal(forced.images[0]!.target.mediaType, MediaType.dockerManifest);
      const m = await readJsonBlob<Manifest>(g, forced.images[0]!.target.digest);
      assert.equal(m.config.digest, img.config.desc.digest);
      assert.equal(m.layers[0]!.digest, img.layer.desc.digest);
    } finally {
      await g.teardown();
    }
  });

  it('classic docker save: gzip layer detected by magic, an identical layer as a symlink, several RepoTags', async () => {
    const gz = sh('bash', ['-c', 'printf layer-one | gzip -n | base64 -w0']);
    const layer1 = Buffer.from(gz, 'base64');
    const layer2 = Buffer.from('layer-two');
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [sha256('layer-one'), sha256('layer-two'), sha256('layer-two'), sha256('layer-one')] },
      }),
    );
    const cfgName = `${sha256(config).slice(7)}.json`;
    const path = await writeTar(join(f.dir, 'classic.tar'), [
      { name: 'aaa/', type: 'directory' },
      { name: 'aaa/VERSION', data: '1.0' },
      { name: 'aaa/json', data: '{}' },
      { name: 'aaa/layer.tar', data: layer1 },
      { name: 'bbb/layer.tar', data: layer2 },
      { name: 'ccc/layer.tar', type: 'symlink', linkname: '../bbb/layer.tar' },
      { name: 'ddd/layer.tar', type: 'link', linkname: 'aaa/layer.tar' },
      { name: cfgName, data: config },
      {
        name: 'manifest.json',
        data: JSON.stringify([
          {
            Config: cfgName,
            RepoTags: ['classic:1', 'example.com/classic:2'],
            Layers: ['aaa/layer.tar', 'bbb/layer.tar', './ccc/layer.tar', 'ddd/layer.tar'],
          },
        ]),
      },
    ]);
    const result = await importArchive(path, { content: f.content, images: f.images, allPlatforms: true });
    assert.deepEqual(result.images.map((i) => i.name).sort(), ['docker.io/library/classic:1', 'example.com/classic:2']);
    const m = await readJsonBlob<Manifest>(f, result.images[0]!.target.digest);
    assert.deepEqual(
      m.layers.map((l) => l.mediaType),
      [MediaType.dockerLayerGzip, MediaType.dockerLayer, MediaType.dockerLayer, MediaType.dockerLayerGzip],
    );
    assert.deepEqual(
      m.layers.map((l) => l.digest),
      [sha256(layer1), sha256(layer2), sha256(layer2), sha256(layer1)],
    );
    assert.equal(m.config.digest, sha256(config));
  });

  describe('multi-platform index', () => {
    const amd = image('amd64', 'amd-layer');
    const arm = image('arm64', 'arm-layer');
    const idx = blob(MediaType.ociIndex, {
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: [
        { ...arm.manifest.desc, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        { ...amd.manifest.desc, platform: { os: 'linux', architecture: 'amd64' } },
      ],
    });
    const top = { schemaVersion: 2, manifests: [{ ...idx.desc, annotations: { [Annotation.imageName]: 'example.com/multi:1' } }] };
    const build = (omitArm = false) =>
      writeTar(join(f.dir, 'multi.tar'), [
        OCI_LAYOUT,
        { name: 'index.json', data: JSON.stringify(top) },
        blobEntry(idx),
        ...amd.blobs.map(blobEntry),
        ...(omitArm ? [] : arm.blobs).map(blobEntry),
      ]);
    const mLabels = async () =>
      Object.entries((await f.content.info(idx.desc.digest)).labels)
        .filter(([k]) => k.startsWith(`${Label.gcRefContent}m.`))
        .map(([, v]) => v)
        .sort();

    it('labels and returns the host platform by default, the asked ones with platforms, all with allPlatforms', async () => {
      const path = await build();
      const host = hostPlatform().architecture === 'arm64' ? arm : amd;
      let result = await importArchive(path, { content: f.content, images: f.images });
      assert.equal((await f.images.get('example.com/multi:1')).target.digest, idx.desc.digest);
      assert.deepEqual(
        result.manifests.map((m) => m.digest),
        [host.manifest.desc.digest],
      );
      assert.deepEqual(await mLabels(), [host.manifest.desc.digest]);
      const other = host === amd ? arm : amd;
      assert.deepEqual((await f.content.info(other.manifest.desc.digest)).labels, {}, 'unselected manifest left unlabelled');

      await f.content.update({ digest: idx.desc.digest, labels: {} }, ['labels']);
      result = await importArchive(path, { content: f.content, images: f.images, platforms: [{ os: 'linux', architecture: 'arm64' }] });
      assert.deepEqual(
        result.manifests.map((m) => m.digest),
        [arm.manifest.desc.digest],
      );
      assert.equal(format(result.manifests[0]!.platform!), 'linux/arm64/v8');
      assert.deepEqual(await mLabels(), [arm.manifest.desc.digest]);
      assert.equal((await f.content.info(arm.manifest.desc.digest)).labels[`${Label.gcRefContent}config`], arm.config.desc.digest);

      result = await importArchive(path, { content: f.content, images: f.images, allPlatforms: true });
      assert.deepEqual(
        result.images[0]!.manifests.map((m) => m.digest).sort(),
        [amd.manifest.desc.digest, arm.manifest.desc.digest].sort(),
      );
      assert.deepEqual(await mLabels(), [amd.manifest.desc.digest, arm.manifest.desc.digest].sort());

      result = await importArchive(path, { content: f.content, images: f.images, platforms: [{ os: 'linux', architecture: 's390x' }] });
      assert.deepEqual(result.images[0]!.manifests, [], 'nothing to unpack, the image is still recorded');
      const labels = (await f.content.info(idx.desc.digest)).labels;
      assert.equal(labels[`${Label.gcRefContent}m.0`], arm.manifest.desc.digest, 'numbered by position in the index');
      assert.equal(labels[`${Label.gcRefContent}m.1`], amd.manifest.desc.digest, 'an import for another platform keeps earlier labels');
    });

    it('tolerates the blobs of unselected platforms being absent, but not selected ones', async () => {
      const path = await build(true);
      await importArchive(path, { content: f.content, images: f.images, platforms: [{ os: 'linux', architecture: 'amd64' }] });
      assert.equal(f.images.records.size, 1);
      f.images.records.clear();
      await expectFailure(
        f,
        importArchive(path, { content: f.content, images: f.images, allPlatforms: true }),
        ErrorKind.NotFound,
        new RegExp(`${arm.manifest.desc.digest}.*missing`),
      );
    });
  });

  describe('naming', () => {
    const img = image('amd64', 'naming');
    const archive = (annotations?: Record<string, string>) =>
      writeTar(join(f.dir, 'n.tar'), [
        OCI_LAYOUT,
        {
          name: 'index.json',
          data: JSON.stringify({ schemaVersion: 2, manifests: [{ ...img.manifest.desc, ...(annotations && { annotations }) }] }),
        },
        ...img.blobs.map(blobEntry),
      ]);

    it('a tag-only ref.name needs a base name: <baseName>:<ref.name>', async () => {
      const path = await archive({ [Annotation.refName]: 'v1' });
      const events: ProgressEvent[] = [];
      let result = await importArchive(path, { content: f.content, images: f.images, progress: (e) => events.push(e) });
      assert.deepEqual(result.images, []);
      assert.ok(events.some((e) => e.event === 'image' && /only a tag/.test(e.message ?? '')));
      result = await importArchive(path, { content: f.content, images: f.images, baseName: 'foo' });
      assert.deepEqual(
        result.images.map((i) => i.name),
        ['docker.io/library/foo:v1'],
      );
    });

    it('a full ref.name is normalised; no name at all is <baseName>@<digest> or skipped', async () => {
      let result = await importArchive(await archive({ [Annotation.refName]: 'quay.io/a/b:2' }), { content: f.content, images: f.images });
      assert.deepEqual(
        result.images.map((i) => i.name),
        ['quay.io/a/b:2'],
      );
      const path = await archive();
      result = await importArchive(path, { content: f.content, images: f.images });
      assert.deepEqual(result.images, []);
      result = await importArchive(path, { content: f.content, images: f.images, baseName: 'example.com/base' });
      assert.deepEqual(
        result.images.map((i) => i.name),
        [`example.com/base@${img.manifest.desc.digest}`],
      );
    });

    it('io.containerd.image.name is normalised as every command normalises; one that is no reference is skipped', async () => {
      let result = await importArchive(await archive({ [Annotation.imageName]: 'rt/longpath:latest' }), {
        content: f.content,
        images: f.images,
      });
      assert.deepEqual(
        result.images.map((i) => i.name),
        ['docker.io/rt/longpath:latest'],
      );
      assert.deepEqual([...f.images.records.keys()], ['docker.io/rt/longpath:latest']);
      const events: ProgressEvent[] = [];
      result = await importArchive(await archive({ [Annotation.imageName]: 'Not A Reference' }), {
        content: f.content,
        images: f.images,
        progress: (e) => events.push(e),
      });
      assert.deepEqual(result.images, []);
      assert.ok(events.some((e) => e.event === 'image' && /"Not A Reference" is not an image reference/.test(e.message ?? '')));
    });
  });

  describe('bad input', () => {
    it('a blob whose bytes do not match its name', async () => {
      const img = image('amd64', 'good');
      const path = await writeTar(join(f.dir, 'bad.tar'), [
        OCI_LAYOUT,
        {
          name: 'index.json',
          data: JSON.stringify({
            schemaVersion: 2,
            manifests: [{ ...img.manifest.desc, annotations: { [Annotation.imageName]: 'x/y:z' } }],
          }),
        },
        img.blobs.map(blobEntry)[1]!,
        img.blobs.map(blobEntry)[2]!,
        { name: `blobs/sha256/${img.layer.desc.digest.slice(7)}`, data: 'evil' },
      ]);
      await expectFailure(
        f,
        importArchive(path, { content: f.content, images: f.images }),
        ErrorKind.InvalidArgument,
        new RegExp(`archive entry "blobs/sha256/${img.layer.desc.digest.slice(7)}".*digest`),
      );
      assert.deepEqual(await f.content.listStatuses(), [], 'the failed ingest is dropped');
    });

    it('a blob a manifest references is missing', async () => {
      const img = image('amd64', 'missing');
      const path = await writeTar(join(f.dir, 'missing.tar'), [
        OCI_LAYOUT,
        {
          name: 'index.json',
          data: JSON.stringify({
            schemaVersion: 2,
            manifests: [{ ...img.manifest.desc, annotations: { [Annotation.imageName]: 'x/y:z' } }],
          }),
        },
        blobEntry(img.config),
        blobEntry(img.manifest),
      ]);
      await expectFailure(
        f,
        importArchive(path, { content: f.content, images: f.images }),
        ErrorKind.NotFound,
        new RegExp(`layer 0 of manifest ${img.manifest.desc.digest}.*${img.layer.desc.digest} not found`),
      );
    });

    it('a truncated archive', async () => {
      const cut = join(f.dir, 'cut.tar');
      copyFileSync(shared.path, cut);
      truncateSync(cut, Math.floor(statSync(shared.path).size / 2));
      await expectFailure(
        f,
        importArchive(cut, { content: f.content, images: f.images }),
        ErrorKind.InvalidArgument,
        /truncated|Unexpected end/,
      );
      assert.deepEqual(await f.content.listStatuses(), []);
    });

    it('an entry name that escapes the archive', async () => {
      for (const name of ['../evil', '/etc/evil', 'blobs/../../evil']) {
        const path = await writeTar(join(f.dir, 'trav.tar'), [OCI_LAYOUT, { name, data: 'x' }]);
        await expectFailure(
          f,
          importArchive(path, { content: f.content, images: f.images }),
          ErrorKind.InvalidArgument,
          /escapes the archive/,
        );
      }
      const link = await writeTar(join(f.dir, 'link.tar'), [{ name: 'a/layer.tar', type: 'symlink', linkname: '../../etc/passwd' }]);
      await expectFailure(
        f,
        importArchive(link, { content: f.content, images: f.images }),
        ErrorKind.InvalidArgument,
        /escapes the archive/,
      );
    });

    it('an archive that is neither format, or not a tar at all', async () => {
      const path = await writeTar(join(f.dir, 'neither.tar'), [{ name: 'hello.txt', data: 'hi' }]);
      await expectFailure(
        f,
        importArchive(path, { content: f.content, images: f.images }),
        ErrorKind.InvalidArgument,
        /neither an OCI image layout.*nor a docker save archive/,
      );
      const junk = join(f.dir, 'junk.tar');
      sh('bash', ['-c', `head -c 4096 /dev/urandom > ${junk}`]);
      await expectFailure(
        f,
        importArchive(junk, { content: f.content, images: f.images }),
        ErrorKind.InvalidArgument,
        /not a valid tar archive/,
      );
      await expectFailure(
        f,
        importArchive(join(f.dir, 'nope.tar'), { content: f.content, images: f.images }),
        ErrorKind.NotFound,
        /not found/,
      );
    });

    it('a schema 1 manifest, and a layer count that differs from the diff ids', async () => {
      const s1 = blob('application/vnd.docker.distribution.manifest.v1+prettyjws', { schemaVersion: 1 });
      let path = await writeTar(join(f.dir, 's1.tar'), [
        OCI_LAYOUT,
        { name: 'index.json', data: JSON.stringify({ schemaVersion: 2, manifests: [s1.desc] }) },
        blobEntry(s1),
      ]);
      await expectFailure(
        f,
        importArchive(path, { content: f.content, images: f.images, baseName: 'x' }),
        ErrorKind.InvalidArgument,
        /schema 1/,
      );
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
      path = await writeTar(join(f.dir, 'count.tar'), [
        { name: 'l/layer.tar', data: 'x' },
        { name: 'c.json', data: config },
        { name: 'manifest.json', data: JSON.stringify([{ Config: 'c.json', RepoTags: ['a:b'], Layers: ['l/layer.tar'] }]) },
      ]);
      await expectFailure(
        f,
        importArchive(path, { content: f.content, images: f.images }),
        ErrorKind.InvalidArgument,
        /1 layers but the config lists 0 diff_ids/,
      );
    });

    it('stops when the signal is aborted, before or during the read', async () => {
      const ac = new AbortController();
      ac.abort();
      await expectFailure(
        f,
        importArchive(shared.path, { content: f.content, images: f.images, signal: ac.signal }),
        ErrorKind.Canceled,
        /canceled/,
      );
      const mid = new AbortController();
      const { Readable } = await import('node:stream');
      const data = readFileSync(shared.path);
      // A slow source: the abort lands while the layer is being written.
      const slow = Readable.from(
        (async function* () {
          for (let i = 0; i < data.length; i += 64 << 10) {
            if (i === 256 << 10) mid.abort();
            yield data.subarray(i, i + (64 << 10));
            await new Promise((r) => setImmediate(r));
          }
        })(),
      );
      await expectFailure(
        f,
        importArchive(slow, { content: f.content, images: f.images, signal: mid.signal }),
        ErrorKind.Canceled,
        /canceled/,
      );
      assert.deepEqual(await f.content.listStatuses(), [], 'the interrupted ingest is dropped');
    });
  });

  it('keeps memory flat for a 200 MB layer', async function () {
    this.timeout(60_000);
    const { Readable } = await import('node:stream');
    const tar = await import('tar-stream');
    const { createHash, randomBytes } = await import('node:crypto');
    const SIZE = 200 << 20;
    const chunk = randomBytes(1 << 20);
    const hash = createHash('sha256');
    const pack = tar.pack();
    (async () => {
      const sink = pack.entry({ name: 'big/layer.tar', size: SIZE, type: 'file' });
      for (let i = 0; i < SIZE / chunk.length; i++) {
        hash.update(chunk);
        if (!sink.write(chunk)) await new Promise<void>((r) => sink.once('drain', () => r()));
      }
      sink.end(null);
      const config = JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [`sha256:${'0'.repeat(64)}`] },
      });
      pack.entry({ name: 'c.json' }, config);
      pack.entry({ name: 'manifest.json' }, JSON.stringify([{ Config: 'c.json', RepoTags: ['big:1'], Layers: ['big/layer.tar'] }]));
      pack.finalize();
    })().catch((err) => pack.destroy(err));
    global.gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    try {
      const result = await importArchive(Readable.from(pack as AsyncIterable<Buffer>), {
        content: f.content,
        images: f.images,
        allPlatforms: true,
      });
      const m = await readJsonBlob<Manifest>(f, result.images[0]!.target.digest);
      assert.equal(m.layers[0]!.digest, `sha256:${hash.digest('hex')}`);
      assert.equal(m.layers[0]!.size, SIZE);
    } finally {
      clearInterval(timer);
    }
    const growth = peak - before;
    assert.ok(growth < 64 << 20, `RSS grew by ${Math.round(growth / 2 ** 20)} MiB while importing a ${SIZE >> 20} MiB layer`);
  });

  it('reads the archive bytes once (reading progress matches the file)', async () => {
    const events: ProgressEvent[] = [];
    await importArchive(shared.path, { content: f.content, images: f.images, progress: (e) => events.push(e) });
    assert.equal(events.filter((e) => e.event === 'reading').at(-1)!.current, readFileSync(shared.path).length);
  });
});
