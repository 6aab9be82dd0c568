/**
 * Pull and push against a real registry (Debian's docker-registry on 127.0.0.1, see
 * registry.ts), interop with skopeo both ways, cross-repository mounts and blobs not sent twice
 * (checked in the registry's own access log), parallel uploads and a failure among them (through
 * a proxy that holds or fails chosen requests), platform selection, `run --pull`, and a fake
 * registry (an HTTP server in this process) that sends bytes not matching their digests.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { waitFor } from '@ctl/proto/testing';
import { layeredImage } from './big-image';
import { useEngine } from './engine';
import { CTL } from './helpers';
import {
  type LoggedRequest,
  type TestRegistry,
  type TokenServer,
  freePort,
  getBlob,
  getManifest,
  putBlob,
  putManifest,
  sha256,
  startProxy,
  startRegistry,
  startTokenServer,
} from './registry';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const BUSYBOX = 'docker.io/library/busybox:latest';
const HOST_ARCH = process.arch === 'x64' ? 'amd64' : process.arch;
/** A platform no test machine is: the second platform of the index. */
const OTHER = { os: 'linux', architecture: 's390x' };

interface ContentRow {
  digest: string;
  labels: Record<string, string>;
}

/** The blob an upload PUT finishes (its digest query parameter), or undefined for another request. */
const uploadedDigest = (r: { method: string; path: string }): string | undefined =>
  r.method === 'PUT' && r.path.includes('/blobs/uploads/')
    ? (new URL(r.path, 'http://x').searchParams.get('digest') ?? undefined)
    : undefined;
const mountPath = (repo: string, digest: string, from: string): string =>
  `/v2/${repo}/blobs/uploads/?${new URLSearchParams({ mount: digest, from })}`;

interface ImageRow {
  name: string;
  target: { mediaType: string; digest: string };
  platforms: string[];
}

describe('ctl pull and push with a registry', function () {
  this.timeout(180_000);
  const engine = useEngine('registry');
  const { run, ok, containers, ourSnapshots } = engine;
  let registry: TestRegistry;
  let busyboxDigest = '';

  const images = (): ImageRow[] => JSON.parse(ok('image', 'ls', '--format', 'json')) as ImageRow[];
  const imageOf = (name: string): ImageRow | undefined => images().find((i) => i.name === name);
  const blobs = (): string[] => ok('content', 'ls', '-q').trim().split('\n').filter(Boolean);
  const labelsOf = (digest: string): Record<string, string> =>
    (JSON.parse(ok('content', 'ls', '--format', 'json')) as ContentRow[]).find((b) => b.digest === digest)?.labels ?? {};
  /** The config and layers of a stored manifest. */
  const blobsOf = (manifest: string): string[] => {
    const m = JSON.parse(ok('content', 'get', manifest)) as { config: { digest: string }; layers: { digest: string }[] };
    return [m.config.digest, ...m.layers.map((l) => l.digest)];
  };
  /** Removes every image here and collects their blobs and snapshots, so the next pull fetches for real. */
  const forgetAll = (): void => {
    const names = images().map((i) => i.name);
    if (names.length) ok('image', 'rm', '--sync', ...names);
    assert.deepEqual(blobs(), [], 'no blob is left once no image holds it');
  };

  before(async () => {
    registry = await startRegistry();
    busyboxDigest = imageOf(BUSYBOX)!.target.digest;
  });
  after(async () => {
    await registry?.stop();
  });

  it('pushes an image that skopeo reads back with the same digests', () => {
    const ref = `${registry.host}/busybox:latest`;
    ok('image', 'tag', 'busybox', ref);
    const pushed = ok('push', ref);
    assert.equal(pushed, `${ref}@${busyboxDigest}\n`);
    const inspect = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`], { encoding: 'utf8' })) as {
      Digest: string;
      Architecture: string;
    };
    assert.equal(inspect.Digest, busyboxDigest);
    assert.equal(inspect.Architecture, HOST_ARCH);
    const archive = join(engine.instance.base, 'from-registry.tar');
    execFileSync('skopeo', [
      'copy',
      '--quiet',
      '--src-tls-verify=false',
      `docker://${ref}`,
      `oci-archive:${archive}:skopeo/busybox:copied`,
    ]);
    ok('image', 'import', archive);
    assert.equal(
      imageOf('docker.io/skopeo/busybox:copied')?.target.digest,
      busyboxDigest,
      'what skopeo copied out imports to the digest we pushed',
    );
    // Pushing again finds every blob there already.
    assert.equal(ok('image', 'push', ref), pushed);
    ok('image', 'rm', 'docker.io/skopeo/busybox:copied');
  });

  it('mounts blobs another repository of the registry has, sends none the repository has, and labels where each blob is', async () => {
    const host = registry.host;
    const source = `containerd.io/distribution.source.${host}`;
    const parts = blobsOf(busyboxDigest);
    for (const d of [...parts]) assert.equal(labelsOf(d)[source], 'busybox', `the push to busybox is recorded on ${d}`);

    await registry.requests();
    const copy = `${host}/team/copy:1`;
    ok('image', 'tag', 'busybox', copy);
    assert.equal(ok('push', copy), `${copy}@${busyboxDigest}\n`);
    let log = await registry.requests();
    for (const d of parts) {
      const mount = log.find((r) => r.method === 'POST' && r.path === mountPath('team/copy', d, 'busybox'));
      assert.equal(mount?.status, 201, `the registry mounted ${d} from busybox`);
      assert.equal(sha256(await getBlob(host, 'team/copy', d)), d, 'the mounted blob is in the new repository');
    }
    assert.deepEqual(
      log.filter((r) => uploadedDigest(r)),
      [],
      'no blob bytes were sent',
    );
    for (const d of parts) assert.equal(labelsOf(d)[source], 'busybox,team/copy');

    // Pushed again: HEAD finds every blob, nothing is started.
    assert.equal(ok('push', copy), `${copy}@${busyboxDigest}\n`);
    log = await registry.requests();
    for (const d of parts) assert.ok(log.some((r) => r.method === 'HEAD' && r.path === `/v2/team/copy/blobs/${d}` && r.status === 200));
    assert.deepEqual(
      log.filter((r) => r.path.includes('/blobs/uploads/')),
      [],
      'no upload is started for a blob the repository has',
    );

    // A pull records its repository too, and a push elsewhere mounts from it.
    forgetAll();
    ok('pull', copy);
    for (const d of [busyboxDigest, ...parts]) assert.equal(labelsOf(d)[source], 'team/copy', `the pull is recorded on ${d}`);
    const other = `${host}/other:2`;
    ok('image', 'tag', copy, other);
    await registry.requests();
    ok('push', other);
    log = await registry.requests();
    for (const d of parts)
      assert.equal(log.find((r) => r.path === mountPath('other', d, 'team/copy'))?.status, 201, `${d} is mounted from team/copy`);
    ok('image', 'rm', copy, other);
    ok('image', 'import', join(engine.instance.base, 'busybox.tar'));
  });

  it('uploads blobs in parallel and the manifest after them all; a failed upload fails the push, ends the others, tags nothing', async () => {
    const name = 'docker.io/library/layered:1';
    const archive = layeredImage(join(engine.instance.base, 'layered'), name, [3 << 20, 2 << 20, 1 << 20, 512 << 10, 256 << 10]);
    ok('image', 'import', '--no-unpack', archive);
    const digest = imageOf(name)!.target.digest;
    const parts = blobsOf(digest);
    const failing = parts[2]!;

    // Through a proxy that fails one blob's upload and holds every other: the push ends with that
    // failure (it would wait forever for the held ones if it did not give them up).
    const failer = await startProxy(registry.host, (method, path) => {
      const uploaded = uploadedDigest({ method, path });
      if (!uploaded) return 'forward';
      return uploaded === failing ? { status: 500, body: 'injected failure' } : 'hold';
    });
    try {
      ok('image', 'tag', name, `${failer.host}/layered:1`);
      const failed = await engine.start('push', `${failer.host}/layered:1`);
      assert.equal(failed.code, 1, failed.stderr);
      assert.match(
        failed.stderr,
        new RegExp(`upload blob ${failing} to ${failer.host}/layered: 500 Internal Server Error \\(UNKNOWN: injected failure\\)`),
      );
      const held = failer.requests.filter((r) => r.action === 'hold');
      assert.ok(held.length > 0, 'other uploads were under way when one failed');
      await waitFor('the push to give up the uploads still in flight', () => held.every((r) => r.closedByClient) || undefined);
      assert.deepEqual(
        failer.requests.filter((r) => r.path.includes('/manifests/')),
        [],
        'no manifest is sent after a failed upload',
      );
      assert.equal((await fetch(`http://${registry.host}/v2/layered/manifests/1`, { method: 'HEAD' })).status, 404, 'nothing is tagged');
      ok('image', 'rm', `${failer.host}/layered:1`);
    } finally {
      await failer.stop();
    }

    // Through a proxy that lets no upload finish before a second one has started: only parallel
    // uploads get through. The registry's log has the manifest after every blob.
    let started = 0;
    let bothStarted!: () => void;
    const two = new Promise<void>((resolve) => (bothStarted = resolve));
    const gate = await startProxy(registry.host, (method, path) => {
      if (!uploadedDigest({ method, path })) return 'forward';
      if (++started === 2) bothStarted();
      return two.then(() => 'forward' as const);
    });
    try {
      const ref = `${gate.host}/layered:1`;
      ok('image', 'tag', name, ref);
      await registry.requests();
      const pushed = await engine.start('push', ref);
      assert.equal(pushed.code, 0, pushed.stderr);
      assert.equal(pushed.stdout, `${ref}@${digest}\n`);
      const log: LoggedRequest[] = await registry.requests();
      const manifestAt = log.findIndex((r) => r.method === 'PUT' && r.path === '/v2/layered/manifests/1' && r.status === 201);
      assert.ok(manifestAt >= 0, 'the manifest is stored');
      const uploads = log.flatMap((r, i) => (uploadedDigest(r) ? [{ digest: uploadedDigest(r)!, at: i, status: r.status }] : []));
      assert.deepEqual(uploads.map((u) => u.digest).sort(), [...parts].sort(), 'every blob is uploaded once');
      for (const u of uploads) {
        assert.equal(u.status, 201);
        assert.ok(u.at < manifestAt, `blob ${u.digest} was stored before the manifest`);
      }
      ok('image', 'rm', ref);
    } finally {
      await gate.stop();
    }
    assert.equal((await getManifest(registry.host, 'layered', '1')).data.equals(Buffer.from(ok('content', 'get', digest))), true);
    for (const d of parts) assert.equal(sha256(await getBlob(registry.host, 'layered', d)), d);
    ok('image', 'rm', name);
  });

  it('pulls by tag and by digest into an empty store, and runs what it pulled', () => {
    forgetAll();
    const byDigest = `${registry.host}/busybox@${busyboxDigest}`;
    assert.equal(ok('pull', byDigest), `${byDigest}\n`);
    assert.equal(imageOf(byDigest)?.target.digest, busyboxDigest);
    const manifest = JSON.parse(ok('content', 'get', busyboxDigest)) as { config: { digest: string }; layers: { digest: string }[] };
    const present = blobs();
    for (const d of [busyboxDigest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)])
      assert.ok(present.includes(d), `${d} was fetched`);
    // GC labels as an import sets them: the manifest holds its config and layers.
    const info = (JSON.parse(ok('content', 'ls', '--format', 'json')) as { digest: string; labels: Record<string, string> }[]).find(
      (b) => b.digest === busyboxDigest,
    )!;
    assert.equal(info.labels['containerd.io/gc.ref.content.config'], manifest.config.digest);
    assert.equal(info.labels['containerd.io/gc.ref.content.l.0'], manifest.layers[0]!.digest);
    assert.equal(ok('run', '--rm', byDigest, 'echo', 'pulled'), 'pulled\n');
    const byTag = `${registry.host}/busybox:latest`;
    assert.equal(ok('image', 'pull', registry.host + '/busybox'), `${byTag}\n`);
    assert.equal(imageOf(byTag)?.target.digest, busyboxDigest);
    assert.equal(ok('run', '--rm', byTag, 'echo', 'tagged'), 'tagged\n');
  });

  it('pulls what skopeo pushed as Docker schema2', () => {
    const archive = join(engine.instance.base, 'busybox-out.tar');
    ok('image', 'export', '-o', archive, `${registry.host}/busybox:latest`);
    const ref = `${registry.host}/v2s2/busybox:1`;
    execFileSync('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', '--format', 'v2s2', `oci-archive:${archive}`, `docker://${ref}`]);
    assert.equal(ok('pull', ref), `${ref}\n`);
    const image = imageOf(ref)!;
    assert.equal(image.target.mediaType, DOCKER_MANIFEST);
    assert.deepEqual(image.platforms, [`linux/${HOST_ARCH}`]);
    assert.equal(ok('run', '--rm', ref, 'echo', 'schema2'), 'schema2\n');
  });

  it('picks the host platform of an index by default, others with --platform or --all-platforms', async () => {
    const host = registry.host;
    // An index of this host's busybox and a second platform (its config says s390x), written
    // straight into the registry.
    const source = await getManifest(host, 'busybox', busyboxDigest);
    const manifest = JSON.parse(source.data.toString('utf8')) as {
      config: { mediaType: string; digest: string; size: number };
      layers: unknown[];
    };
    const config = JSON.parse((await getBlob(host, 'busybox', manifest.config.digest)).toString('utf8')) as Record<string, unknown>;
    for (const d of [manifest.config.digest, ...(manifest.layers as { digest: string }[]).map((l) => l.digest)])
      await putBlob(host, 'multi', await getBlob(host, 'busybox', d));
    await putManifest(host, 'multi', busyboxDigest, source.mediaType, source.data);
    const otherConfig = await putBlob(host, 'multi', Buffer.from(JSON.stringify({ ...config, architecture: OTHER.architecture })));
    const otherData = Buffer.from(JSON.stringify({ ...manifest, config: { ...manifest.config, ...otherConfig } }));
    const other = await putManifest(host, 'multi', sha256(otherData), source.mediaType, otherData);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: DOCKER_LIST,
        manifests: [
          {
            mediaType: source.mediaType,
            digest: busyboxDigest,
            size: source.data.length,
            platform: { os: 'linux', architecture: HOST_ARCH },
          },
          { mediaType: source.mediaType, ...other, platform: OTHER },
        ],
      }),
    );
    const indexDesc = await putManifest(host, 'multi', 'latest', DOCKER_LIST, index);
    const ref = `${host}/multi:latest`;

    forgetAll();
    ok('pull', ref);
    let image = imageOf(ref)!;
    assert.deepEqual([image.target.mediaType, image.target.digest], [DOCKER_LIST, indexDesc.digest]);
    assert.deepEqual(image.platforms, [`linux/${HOST_ARCH}`]);
    assert.ok(!blobs().includes(other.digest) && !blobs().includes(otherConfig.digest), 'the other platform is not fetched');
    assert.equal(ok('run', '--rm', ref, 'echo', 'from-index'), 'from-index\n');
    // Half an index is not pushed as if it were whole.
    ok('image', 'tag', ref, `${host}/multi-copy:partial`);
    const partial = run('push', `${host}/multi-copy:partial`);
    assert.equal(partial.code, 1);
    assert.match(
      partial.stderr,
      new RegExp(
        `${other.digest} is not stored here \\(platform linux/s390x\\), so the whole image cannot be pushed; push one platform with --platform`,
      ),
    );
    assert.equal((await fetch(`http://${host}/v2/multi-copy/manifests/partial`, { method: 'HEAD' })).status, 404, 'nothing is tagged');
    ok('image', 'rm', `${host}/multi-copy:partial`);

    ok('pull', '--platform', 'linux/s390x', '--no-unpack', ref);
    assert.ok(blobs().includes(otherConfig.digest), '--platform fetches that platform');
    assert.deepEqual(imageOf(ref)!.platforms.sort(), [`linux/${HOST_ARCH}`, 'linux/s390x'].sort());

    forgetAll();
    ok('pull', '--all-platforms', '--no-unpack', ref);
    image = imageOf(ref)!;
    assert.deepEqual(image.platforms.sort(), [`linux/${HOST_ARCH}`, 'linux/s390x'].sort());

    // The whole index goes back to another repository; one platform of it goes as a plain manifest.
    ok('image', 'tag', ref, `${host}/multi-copy:all`);
    assert.equal(ok('push', `${host}/multi-copy:all`), `${host}/multi-copy:all@${indexDesc.digest}\n`);
    ok('image', 'tag', ref, `${host}/multi-copy:s390x`);
    assert.equal(ok('push', '--platform', 'linux/s390x', `${host}/multi-copy:s390x`), `${host}/multi-copy:s390x@${other.digest}\n`);
    assert.equal((await getManifest(host, 'multi-copy', 's390x')).data.equals(otherData), true);
    ok('image', 'rm', `${host}/multi-copy:all`, `${host}/multi-copy:s390x`);
  });

  it('run --pull: missing pulls once, always pulls again, never refuses; failures leave nothing', async () => {
    forgetAll();
    const host = registry.host;
    const ref = `${host}/policy:1`;
    // policy:1 is busybox in the registry.
    ok('image', 'import', join(engine.instance.base, 'busybox.tar'));
    ok('image', 'tag', 'busybox', ref);
    ok('push', ref);
    ok('image', 'rm', '--sync', ref, BUSYBOX);

    const never = run('run', '--rm', '--pull', 'never', ref, 'true');
    assert.equal(never.code, 125);
    assert.match(never.stderr, /No such image: 127\.0\.0\.1:\d+\/policy:1/);
    assert.equal(imageOf(ref), undefined, '--pull never pulls nothing');

    const missing = run('run', '--rm', ref, 'echo', 'first');
    assert.equal(missing.code, 0, missing.stderr);
    assert.equal(missing.stdout, 'first\n');
    assert.match(missing.stderr, /Unable to find image '127\.0\.0\.1:\d+\/policy:1' locally/);
    assert.equal(imageOf(ref)?.target.digest, busyboxDigest);
    assert.equal(ok('run', '--rm', '--pull', 'never', ref, 'echo', 'here'), 'here\n');

    // The tag moves in the registry to another image (busybox with a volume: other config).
    ok('image', 'tag', ref, `${host}/keep:1`);
    engine.importBusybox(ref, { VOLUMES: '/data' });
    const moved = imageOf(ref)!.target.digest;
    assert.notEqual(moved, busyboxDigest);
    ok('push', ref);
    ok('image', 'tag', `${host}/keep:1`, ref); // back to the first image, locally only
    assert.equal(imageOf(ref)?.target.digest, busyboxDigest);
    const again = run('run', '--rm', ref, 'true');
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /Unable to find image/);
    assert.equal(imageOf(ref)?.target.digest, busyboxDigest, '--pull missing uses the image that is here');
    const always = run('run', '--rm', '--pull', 'always', ref, 'ls', '/data');
    assert.equal(always.code, 0, always.stderr);
    assert.equal(always.stdout, 'seed\n', 'the container runs the image pulled again');
    assert.equal(imageOf(ref)?.target.digest, moved, '--pull always pulls again');

    const bad = run('create', '--pull', 'sometimes', ref);
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /--pull sometimes: expected missing, always or never/);
    const unknownTag = run('run', '--rm', `${host}/policy:nope`, 'true');
    assert.equal(unknownTag.code, 125);
    assert.match(unknownTag.stderr, /policy:nope: not found in the registry \(MANIFEST_UNKNOWN/);
    const closed = `127.0.0.1:${await freePort()}/busybox:latest`;
    const unreachable = run('create', closed);
    assert.equal(unreachable.code, 125);
    assert.match(unreachable.stderr, /registry 127\.0\.0\.1:\d+ is not reachable: connect ECONNREFUSED/);
    const pullUnknown = run('pull', `${host}/policy:nope`);
    assert.equal(pullUnknown.code, 1);
    assert.match(pullUnknown.stderr, /not found in the registry/);
    assert.deepEqual(containers(), []);
    assert.deepEqual(ourSnapshots(), []);
    assert.equal(imageOf(`${host}/policy:nope`), undefined);
    assert.equal(imageOf(closed), undefined);
  });

  describe('a registry that wants a token', () => {
    let tokens: TokenServer;
    let secured: TestRegistry;
    before(async () => {
      tokens = await startTokenServer('alice', 's3cret');
      secured = await startRegistry(tokens);
    });
    after(async () => {
      await secured?.stop();
      await tokens?.stop();
    });

    it('mounts with a token that may also pull from the source, and sends the bytes when it may not', async () => {
      const host = secured.host;
      ok('image', 'import', join(engine.instance.base, 'busybox.tar'));
      const parts = blobsOf(busyboxDigest);
      const push = async (ref: string, ...flags: string[]): Promise<void> => {
        ok('image', 'tag', BUSYBOX, ref);
        const r = await engine.start('push', ...flags, ref);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, `${ref}@${busyboxDigest}\n`);
      };

      ok('image', 'tag', BUSYBOX, `${host}/team/a:1`);
      const anonymous = await engine.start('push', `${host}/team/a:1`);
      assert.equal(anonymous.code, 1);
      assert.match(anonymous.stderr, /the token endpoint http:\/\/127\.0\.0\.1:\d+\/token refused anonymous access \(401\)/);
      await push(`${host}/team/a:1`, '--user', 'alice:s3cret');

      await secured.requests();
      tokens.requests.length = 0;
      await push(`${host}/team/b:1`, '--user', 'alice:s3cret');
      let log = await secured.requests();
      for (const d of parts) assert.equal(log.find((r) => r.path === mountPath('team/b', d, 'team/a'))?.status, 201, `${d} is mounted`);
      assert.equal(tokens.requests.length, 1, 'the first token already allows the mounts');
      for (const scope of ['repository:team/b:pull,push', 'repository:team/a:pull'])
        assert.ok(tokens.requests[0]!.scopes.includes(scope), `${scope} in ${tokens.requests[0]!.scopes.join(' ')}`);

      // Alice may not read team/a and team/b any more: the registry refuses the mount (from team/b,
      // the newest source), the bytes go instead.
      tokens.unreadable.add('team/a').add('team/b');
      await push(`${host}/team/c:1`, '--user', 'alice:s3cret');
      log = await secured.requests();
      for (const d of parts) {
        assert.equal(log.find((r) => r.path === mountPath('team/c', d, 'team/b'))?.status, 401, `the mount of ${d} is refused`);
        assert.equal(log.find((r) => uploadedDigest(r) === d)?.status, 201, `${d} is uploaded`);
      }
      ok('image', 'rm', `${host}/team/a:1`, `${host}/team/b:1`, `${host}/team/c:1`);
    });
  });

  describe('a pull that unpacks while it fetches', () => {
    /** An image of three uncompressed layers (so each diff id is the layer's digest), one file in each. */
    interface TestImage {
      manifest: Buffer;
      blobs: Map<string, Buffer>;
      layers: string[];
      /** Each layer's chain id: the name of its committed snapshot. */
      chain: string[];
    }
    /** files: each layer's files (name to content); by default one small file in each of three. */
    const makeImage = (tag: string, files?: Record<string, string>[]): TestImage => {
      const layers = (files ?? ['zero', 'one', 'two'].map((word) => ({ [word]: `${tag} ${word}\n` }))).map((contents, i) => {
        const dir = join(engine.instance.base, `pipeline-${tag}-${i}`);
        mkdirSync(dir, { recursive: true });
        for (const [name, content] of Object.entries(contents)) writeFileSync(join(dir, name), content);
        const names = Object.keys(contents);
        return execFileSync('tar', ['-C', dir, '--owner=0', '--group=0', '--numeric-owner', '--mtime=2020-01-01', '-cf', '-', ...names], {
          maxBuffer: 64 << 20,
        });
      });
      const diffIds = layers.map((l) => sha256(l));
      const chain = diffIds.reduce<string[]>((ids, d) => [...ids, ids.length ? sha256(`${ids[ids.length - 1]} ${d}`) : d], []);
      const config = Buffer.from(JSON.stringify({ architecture: HOST_ARCH, os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds } }));
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
          layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(l), size: l.length })),
        }),
      );
      return { manifest, blobs: new Map([config, ...layers].map((b) => [sha256(b), b])), layers: diffIds, chain };
    };
    let server: Server;
    let host = '';
    const served = new Map<string, TestImage>();
    /** The last layer's requests, answered only when a test says so. */
    let held: ((res: ServerResponse) => void) | undefined;

    before(async () => {
      server = createServer((req: IncomingMessage, res: ServerResponse) => {
        const [, repo, kind, ref] = /^\/v2\/([^/]+)\/(manifests|blobs)\/(.+)$/.exec(req.url ?? '') ?? [];
        const image = served.get(repo ?? '');
        if (image && kind === 'manifests' && ref === 'latest') res.writeHead(200, { 'content-type': OCI_MANIFEST }).end(image.manifest);
        else if (image && kind === 'blobs' && ref === image.layers[2] && held) held(res);
        else if (image && kind === 'blobs' && image.blobs.has(ref!)) res.writeHead(200).end(image.blobs.get(ref!));
        else
          res
            .writeHead(404, { 'content-type': 'application/json' })
            .end(JSON.stringify({ errors: [{ code: 'BLOB_UNKNOWN', message: 'no' }] }));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

    /** The namespace's committed snapshots, by name without the namespace (async: this process serves the registry meanwhile). */
    const committed = async (): Promise<string[]> => {
      const r = await engine.start('snapshot', 'ls', '--format', 'json', 'kind==committed');
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout) as { name: string }[]).flatMap((s) =>
        s.name.startsWith(`${engine.ns}/`) ? [s.name.slice(engine.ns.length + 1)] : [],
      );
    };

    /**
     * Pulls repo (start) with its last layer held back until the first two layers' snapshots are
     * committed, then lets release answer the held request: only an unpack that runs alongside
     * the fetch gets there.
     */
    const pullHoldingLastLayer = async <T>(
      repo: string,
      image: TestImage,
      start: () => T,
      release: (res: ServerResponse, pulling: T) => void,
    ): Promise<T> => {
      served.set(repo, image);
      let answer!: (res: ServerResponse) => void;
      const request = new Promise<ServerResponse>((resolve) => (answer = resolve));
      held = answer;
      const pulling = start();
      const res = await request;
      try {
        await waitFor('the first two layers committed while the last one is held back', async () => {
          const names = await committed();
          return (names.includes(image.chain[0]!) && names.includes(image.chain[1]!)) || undefined;
        });
        assert.ok(!(await committed()).includes(image.chain[2]!), 'the last layer is not unpacked before its blob is there');
        release(res, pulling);
      } finally {
        held = undefined;
        res.destroy();
      }
      return pulling;
    };
    const answer = (body: Buffer) => (res: ServerResponse) => res.writeHead(200).end(body);
    const pull = (repo: string) => () => engine.start('pull', `${host}/${repo}:latest`);

    /** What a failed or cancelled pull made goes with its lease: the collection its end scheduled removes it. */
    const nothingLeftOf = async (image: TestImage, ref: string): Promise<void> => {
      assert.equal(imageOf(ref), undefined, 'no image is named');
      await waitFor('the collection to remove the snapshots of the pull', async () => {
        const names = await committed();
        return image.chain.every((c) => !names.includes(c)) || undefined;
      });
      assert.deepEqual(ourSnapshots(), [], 'no active snapshot is left behind');
      assert.ok(!blobs().some((b) => image.blobs.has(b)), 'nor any blob it fetched');
    };

    it('applies and commits each layer as soon as its blob and the layer below are in, and names the image after the last', async () => {
      const image = makeImage('pipelined');
      const ref = `${host}/pipelined:latest`;
      const r = await pullHoldingLastLayer('pipelined', image, pull('pipelined'), answer(image.blobs.get(image.layers[2]!)!));
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${ref}\n`);
      assert.equal(imageOf(ref)?.target.digest, sha256(image.manifest));
      const snapshots = JSON.parse(ok('snapshot', 'ls', '--format', 'json', 'kind==committed')) as { name: string; parent: string }[];
      const parentOf = (chainId: string): string | undefined => snapshots.find((s) => s.name === `${engine.ns}/${chainId}`)?.parent;
      assert.equal(parentOf(image.chain[0]!), '');
      assert.equal(parentOf(image.chain[1]!), `${engine.ns}/${image.chain[0]}`);
      assert.equal(parentOf(image.chain[2]!), `${engine.ns}/${image.chain[1]}`);
      ok('image', 'rm', '--sync', ref);
    });

    it('applies a layer while its blob is still arriving, and commits it only once the blob is in', async () => {
      // The last layer's first file lies whole in the first 3.5 MiB of its bytes, its second does not.
      const [early, late] = ['e'.repeat(2 << 20), 'l'.repeat(2 << 20)];
      const image = makeImage('streamed', [{ zero: 'zero\n' }, { one: 'one\n' }, { early, late }]);
      const last = image.blobs.get(image.layers[2]!)!;
      const sent = 7 << 19;
      const snapshots = join(engine.instance.root, 'snapshotter');
      const found = (name: string): boolean =>
        execFileSync('find', [snapshots, '-name', name, '-type', 'f'], { encoding: 'utf8' }).trim().length > 0;
      served.set('streamed', image);
      let answer!: (res: ServerResponse) => void;
      const request = new Promise<ServerResponse>((resolve) => (answer = resolve));
      held = answer;
      const pulling = pull('streamed')();
      const res = await request;
      try {
        res.writeHead(200, { 'content-length': String(last.length) });
        res.write(last.subarray(0, sent));
        await waitFor('the early file of the last layer in its snapshot, while the rest is held back', () => found('early') || undefined);
        assert.ok(!found('late'), 'the late file is not there before its bytes are');
        assert.ok(!(await committed()).includes(image.chain[2]!), 'the layer is not committed before its blob is');
        res.end(last.subarray(sent));
      } finally {
        held = undefined;
      }
      const r = await pulling;
      assert.equal(r.code, 0, r.stderr);
      const ref = `${host}/streamed:latest`;
      assert.equal(imageOf(ref)?.target.digest, sha256(image.manifest));
      assert.ok((await committed()).includes(image.chain[2]!));
      ok('image', 'rm', '--sync', ref);
    });

    it('fails on a later layer whose bytes are not its digest: nothing named, and what it unpacked goes with its lease', async () => {
      const image = makeImage('corrupt');
      const good = image.blobs.get(image.layers[2]!)!;
      const evil = Buffer.from(good);
      evil[evil.indexOf('corrupt two')] ^= 1;
      const ref = `${host}/corrupt:latest`;
      const r = await pullHoldingLastLayer('corrupt', image, pull('corrupt'), answer(evil));
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(`blob ${image.layers[2]} from ${host}/corrupt: the bytes the registry sent have digest ${sha256(evil)}; refused`),
      );
      assert.ok(!blobs().includes(sha256(evil)), 'the bad bytes are not committed under any digest');
      await nothingLeftOf(image, ref);
    });

    it('leaves nothing when the client goes away mid-pull', async () => {
      const image = makeImage('cancelled');
      const ref = `${host}/cancelled:latest`;
      const child = await pullHoldingLastLayer(
        'cancelled',
        image,
        () =>
          spawn(process.execPath, [CTL, '--root', engine.instance.root, '--state', engine.instance.state, 'pull', ref], {
            env: { ...process.env, CTL_NO_AUTOSTART: '', ...engine.env },
            stdio: 'ignore',
          }),
        (_res, pulling) => pulling.kill('SIGKILL'),
      );
      try {
        await nothingLeftOf(image, ref);
      } finally {
        child.kill('SIGKILL');
      }
    });
  });

  describe('a registry that sends bytes not matching their digests', () => {
    const good = Buffer.from('the layer the manifest names\n');
    const evil = Buffer.from('something else of this size!\n');
    const config = Buffer.from(
      JSON.stringify({ architecture: HOST_ARCH, os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(good)] } }),
    );
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(good), size: good.length }],
      }),
    );
    const lying = Buffer.from(manifest.toString('utf8').replace('"schemaVersion":2', '"schemaVersion": 2'));
    let server: Server;
    let host = '';

    before(async () => {
      assert.equal(evil.length, good.length);
      server = createServer((req: IncomingMessage, res: ServerResponse) => {
        const path = req.url ?? '';
        if (path === '/v2/bad/manifests/latest') res.writeHead(200, { 'content-type': OCI_MANIFEST }).end(manifest);
        else if (path === `/v2/bad/manifests/${sha256(manifest)}`) res.writeHead(200, { 'content-type': OCI_MANIFEST }).end(manifest);
        else if (path === '/v2/bad/manifests/lying')
          res.writeHead(200, { 'content-type': OCI_MANIFEST, 'docker-content-digest': sha256(manifest) }).end(lying);
        else if (path === `/v2/bad/blobs/${sha256(config)}`) res.writeHead(200).end(config);
        else if (path === `/v2/bad/blobs/${sha256(good)}`) res.writeHead(200).end(evil);
        else
          res
            .writeHead(404, { 'content-type': 'application/json' })
            .end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'no' }] }));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

    it('refuses the layer, names nothing and commits no bad blob', async () => {
      // ctl runs asynchronously here: this process serves the registry meanwhile.
      for (const ref of [`${host}/bad:latest`, `${host}/bad@${sha256(manifest)}`]) {
        const r = await engine.start('pull', ref);
        assert.equal(r.code, 1, r.stderr);
        assert.match(
          r.stderr,
          new RegExp(`blob ${sha256(good)} from ${host}/bad: the bytes the registry sent have digest ${sha256(evil)}; refused`),
        );
        assert.equal(imageOf(ref), undefined, 'no image is named');
        assert.ok(!blobs().includes(sha256(good)) && !blobs().includes(sha256(evil)), 'the bad bytes are not committed under any digest');
      }
      const runIt = await engine.start('run', '--rm', `${host}/bad:latest`, 'true');
      assert.equal(runIt.code, 125);
      assert.match(runIt.stderr, /refused/);
      assert.deepEqual(containers(), []);
    });

    it('refuses a manifest whose bytes are not the digest the registry states', async () => {
      const r = await engine.start('pull', `${host}/bad:lying`);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`the registry says its digest is ${sha256(manifest)}, but its content has ${sha256(lying)}`));
      assert.equal(imageOf(`${host}/bad:lying`), undefined);
      assert.ok(!blobs().includes(sha256(lying)));
    });
  });
});
