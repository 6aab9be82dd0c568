import { ErrorKind, errorKind } from '@ctl/proto/errors';
import { strict as assert } from 'node:assert';
import { createWriteStream, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { exportArchive, importArchive } from '../src/archive';
import type { ProgressEvent } from '../src/archive/common';
import { Annotation, MediaType } from '../src/oci';
import { hostPlatform } from '@ctl/proto/platforms';
import {
  type Fixture,
  OCI_LAYOUT,
  blob,
  blobEntry,
  fixture,
  sharedBusybox,
  image,
  sh,
  skopeoConfig,
  skopeoInspect,
  writeTar,
} from './archive-helpers';

const shared = sharedBusybox('ctl-archive-exp-');

const tarList = (path: string) => sh('tar', ['tf', path]).trim().split('\n').sort();

describe('exportArchive', function () {
  this.timeout(30_000);
  let f: Fixture;
  beforeEach(async () => {
    f = await fixture();
    await importArchive(shared.path, { content: f.content, images: f.images });
  });
  afterEach(async () => {
    await f.teardown();
  });

  it('oci-archive: skopeo reads it, and importing it again gives the same target', async () => {
    const out = join(f.dir, 'out-oci.tar');
    const events: ProgressEvent[] = [];
    const result = await exportArchive(out, {
      content: f.content,
      images: f.images,
      references: ['busybox'],
      format: 'oci-archive',
      progress: (e) => events.push(e),
    });
    assert.deepEqual(
      result.images.map((i) => i.name),
      ['docker.io/library/busybox:latest'],
    );
    const inspect = skopeoInspect(`oci-archive:${out}`);
    assert.equal(inspect.Digest, shared.digest);
    const original = skopeoInspect(`oci-archive:${shared.path}`);
    assert.deepEqual(inspect.Layers, original.Layers);
    const index = JSON.parse(sh('tar', ['xOf', out, 'index.json']));
    assert.equal(index.manifests[0].annotations[Annotation.imageName], 'docker.io/library/busybox:latest');
    assert.equal(index.manifests[0].annotations[Annotation.refName], 'latest');
    assert.ok(tarList(out).includes('oci-layout'));
    // The Docker-compatible manifest.json alongside, read by skopeo as a docker-archive.
    const dockerView = skopeoInspect(`docker-archive:${out}`);
    assert.deepEqual(
      dockerView.Layers,
      skopeoConfig(`oci-archive:${shared.path}`).rootfs.diff_ids,
      'skopeo reports the layers uncompressed',
    );
    assert.deepEqual(JSON.parse(sh('tar', ['xOf', out, 'manifest.json']))[0].RepoTags, ['busybox:latest']);
    assert.ok(events.some((e) => e.event === 'saved' && e.name === original.Layers[0]));
    assert.deepEqual(readdirSync(f.dir), ['out-oci.tar'], 'no temporary file left');

    const g = await fixture();
    try {
      const again = await importArchive(out, { content: g.content, images: g.images });
      assert.equal(again.images[0]!.name, 'docker.io/library/busybox:latest');
      assert.equal(again.images[0]!.target.digest, shared.digest);
    } finally {
      await g.teardown();
    }
  });

  it('docker-archive: classic layout with uncompressed layers that skopeo reads', async () => {
    const out = join(f.dir, 'out-docker.tar');
    await exportArchive(out, {
      content: f.content,
      images: f.images,
      references: ['docker.io/library/busybox:latest'],
      format: 'docker-archive',
    });
    const config = skopeoConfig(`docker-archive:${out}`);
    const inspect = skopeoInspect(`docker-archive:${out}`);
    assert.deepEqual(inspect.Layers, config.rootfs.diff_ids, 'layers are the uncompressed tars');
    assert.equal(inspect.Architecture, hostPlatform().architecture);
    const manifest = JSON.parse(sh('tar', ['xOf', out, 'manifest.json']));
    assert.deepEqual(manifest[0].RepoTags, ['busybox:latest']);
    assert.deepEqual(JSON.parse(sh('tar', ['xOf', out, 'repositories'])), { busybox: { latest: config.rootfs.diff_ids[0]!.slice(7) } });
    // What docker ≤ 24 would write imports back as the same image config.
    const g = await fixture();
    try {
      const again = await importArchive(out, { content: g.content, images: g.images });
      assert.equal(again.images[0]!.name, 'docker.io/library/busybox:latest');
      assert.equal(again.images[0]!.target.mediaType, MediaType.dockerManifest);
    } finally {
      await g.teardown();
    }
  });

  it('docker-archive from a zstd image decompresses with the zstd command', async () => {
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
    await importArchive(zstd, { content: f.content, images: f.images });
    const out = join(f.dir, 'zstd-docker.tar');
    const stream = createWriteStream(out);
    await exportArchive(stream, { content: f.content, images: f.images, references: ['busybox:zstd'], format: 'docker-archive' });
    const inspect = skopeoInspect(`docker-archive:${out}`);
    assert.deepEqual(inspect.Layers, skopeoConfig(`docker-archive:${out}`).rootfs.diff_ids);
    assert.deepEqual(JSON.parse(sh('tar', ['xOf', out, 'manifest.json']))[0].RepoTags, ['busybox:zstd']);
    assert.equal(skopeoInspect(`docker-archive:${out}:busybox:zstd`).Digest.length, 71, 'skopeo finds the image by its RepoTag');
  });

  it('multi-platform: host by default, all present with allPlatforms, one chosen for docker-archive', async () => {
    const amd = image('amd64', 'amd-layer');
    const arm = image('arm64', 'arm-layer');
    const idx = blob(MediaType.ociIndex, {
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: [
        { ...arm.manifest.desc, platform: { os: 'linux', architecture: 'arm64' } },
        { ...amd.manifest.desc, platform: { os: 'linux', architecture: 'amd64' } },
        {
          mediaType: MediaType.ociManifest,
          digest: `sha256:${'e'.repeat(64)}`,
          size: 10,
          platform: { os: 'linux', architecture: 'ppc64le' },
        },
      ],
    });
    const src = await writeTar(join(f.dir, 'multi.tar'), [
      OCI_LAYOUT,
      {
        name: 'index.json',
        data: JSON.stringify({
          schemaVersion: 2,
          manifests: [{ ...idx.desc, annotations: { [Annotation.imageName]: 'example.com/multi:1' } }],
        }),
      },
      blobEntry(idx),
      ...[...amd.blobs, ...arm.blobs].map(blobEntry),
    ]);
    await importArchive(src, {
      content: f.content,
      images: f.images,
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64' },
      ],
    });
    const host = hostPlatform().architecture === 'arm64' ? arm : amd;
    const other = host === amd ? arm : amd;
    const blobsOf = (path: string) => tarList(path).filter((n) => n.startsWith('blobs/sha256/') && n.length > 13);

    const def = join(f.dir, 'def.tar');
    await exportArchive(def, { content: f.content, images: f.images, references: ['example.com/multi:1'], format: 'oci-archive' });
    assert.deepEqual(blobsOf(def), [idx, ...host.blobs].map((b) => `blobs/sha256/${b.desc.digest.slice(7)}`).sort());

    const allOut = join(f.dir, 'all.tar');
    const events: ProgressEvent[] = [];
    await exportArchive(allOut, {
      content: f.content,
      images: f.images,
      references: ['example.com/multi:1'],
      format: 'oci-archive',
      allPlatforms: true,
      progress: (e) => events.push(e),
    });
    assert.deepEqual(blobsOf(allOut), [idx, ...amd.blobs, ...arm.blobs].map((b) => `blobs/sha256/${b.desc.digest.slice(7)}`).sort());
    assert.ok(
      events.some((e) => /not in the content store/.test(e.message ?? '')),
      'the absent ppc64le manifest is reported',
    );

    const dock = join(f.dir, 'dock.tar');
    await exportArchive(dock, {
      content: f.content,
      images: f.images,
      references: ['example.com/multi:1'],
      format: 'docker-archive',
      platforms: [{ os: 'linux', architecture: other === arm ? 'arm64' : 'amd64' }],
    });
    const manifest = JSON.parse(sh('tar', ['xOf', dock, 'manifest.json']));
    assert.equal(manifest[0].Config, `${other.config.desc.digest.slice(7)}.json`);
    assert.deepEqual(manifest[0].RepoTags, ['example.com/multi:1']);
  });

  it('errors: unknown image, no matching platform, allPlatforms for docker-archive; no file left', async () => {
    const out = join(f.dir, 'x.tar');
    const cases: [Promise<unknown>, ErrorKind, RegExp][] = [
      [
        exportArchive(out, { content: f.content, images: f.images, references: ['nope'], format: 'oci-archive' }),
        ErrorKind.NotFound,
        /image "nope" not found/,
      ],
      [
        exportArchive(out, { content: f.content, images: f.images, references: ['busybox'], format: 'docker-archive', allPlatforms: true }),
        ErrorKind.InvalidArgument,
        /one platform per image/,
      ],
      [
        exportArchive(out, { content: f.content, images: f.images, references: [], format: 'oci-archive' }),
        ErrorKind.InvalidArgument,
        /no image references/,
      ],
    ];
    for (const [p, kind, re] of cases) {
      await assert.rejects(p, (err: Error) => errorKind(err) === kind && re.test(err.message));
    }
    await assert.rejects(
      exportArchive(join(f.dir, 'no', 'such', 'dir.tar'), {
        content: f.content,
        images: f.images,
        references: ['busybox'],
        format: 'docker-archive',
      }),
      (err: Error) => errorKind(err) === ErrorKind.NotFound && /does not exist/.test(err.message),
    );
    // A layer gone from the store: found while planning, before anything is written.
    const layer = skopeoInspect(`oci-archive:${shared.path}`).Layers[0]!;
    await f.content.delete(layer);
    await assert.rejects(
      exportArchive(out, { content: f.content, images: f.images, references: ['busybox'], format: 'oci-archive' }),
      (err: Error) => errorKind(err) === ErrorKind.NotFound && err.message.includes(layer),
    );
    assert.equal(existsSync(out), false);
    assert.deepEqual(readdirSync(f.dir), []);
  });

  it('an output stream that fails ends the export with its error', async () => {
    const { Writable } = await import('node:stream');
    let n = 0;
    const broken = new Writable({
      write(chunk: Buffer, _enc, cb) {
        n += chunk.length;
        cb(n > 100_000 ? new Error('disk on fire') : null);
      },
    });
    await assert.rejects(
      exportArchive(broken, { content: f.content, images: f.images, references: ['busybox'], format: 'oci-archive' }),
      /disk on fire/,
    );
  });

  it('an abort while writing leaves no file behind', async () => {
    const out = join(f.dir, 'aborted.tar');
    const ac = new AbortController();
    await assert.rejects(
      exportArchive(out, {
        content: f.content,
        images: f.images,
        references: ['busybox'],
        format: 'oci-archive',
        signal: ac.signal,
        progress: (e) => e.event === 'saved' && ac.abort(),
      }),
      (err: Error) => errorKind(err) === ErrorKind.Canceled,
    );
    assert.deepEqual(readdirSync(f.dir), []);
  });
});
