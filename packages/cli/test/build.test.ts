/**
 * `ctl build` end to end: real builds on the engine's daemon (containerd-lite's ctl.build.v1
 * Builder), from the busybox image. Skipped while the daemon answers Unimplemented for
 * Builder/Build, so the suite runs as soon as the builder lands.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { getXattr, setXattr } from '@ctl/runtime-native/xattr';
import { useEngine } from './engine';
import { CTL, type Run } from './helpers';

describe('ctl build', function () {
  this.timeout(180_000);
  const engine = useEngine('build');

  /** ctl build with ARGS (stdin: input), its network none so that no test touches the host's. */
  const build = (args: string[], input?: string): Run => {
    const { instance } = engine;
    const res = spawnSync(
      process.execPath,
      [CTL, '--root', instance.root, '--state', instance.state, 'build', '--network', 'none', ...args],
      {
        env: { ...process.env, CTL_NO_AUTOSTART: '', ...engine.env },
        input,
        encoding: 'utf8',
        timeout: 150_000,
      },
    );
    return { code: res.status, stdout: res.stdout, stderr: res.stderr };
  };

  /** A context directory of this test with these files. */
  const context = (name: string, files: Record<string, string>): string => {
    const dir = join(engine.instance.base, name);
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(join(dir, path, '..'), { recursive: true });
      writeFileSync(join(dir, path), content);
    }
    return dir;
  };

  before(function () {
    const probe = build(['-q', '-'], 'FROM busybox\n');
    if (probe.code !== 0 && /does not build images|not implement/i.test(probe.stderr)) this.skip();
    assert.equal(probe.code, 0, probe.stderr);
  });

  it('FROM busybox, RUN echo: the output in the progress, the image tagged', () => {
    const run = build(['-t', 'hello:1', '--progress', 'plain', '-'], 'FROM busybox\nRUN echo built-by-ctl > /greeting && echo said-it\n');
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, '', 'progress goes to stderr');
    assert.match(run.stderr, /#\d+ [\d.]+ said-it\n/);
    assert.match(engine.ok('image', 'ls', '-q'), /docker\.io\/library\/hello:1/);
    assert.equal(engine.ok('run', '--rm', 'hello:1', 'cat', '/greeting'), 'built-by-ctl\n');
  });

  it('COPY sends only what .dockerignore lets through', () => {
    const dir = context('copy-ctx', {
      Dockerfile: 'FROM busybox\nCOPY . /ctx/\n',
      '.dockerignore': 'secrets\n*.log\n!keep.log\n',
      'app/main.sh': 'echo main\n',
      'secrets/key': 'hush\n',
      'debug.log': 'noise\n',
      'keep.log': 'kept\n',
    });
    const run = build(['-q', '-t', 'copied', dir]);
    assert.equal(run.code, 0, run.stderr);
    const listing = engine.ok('run', '--rm', 'copied', 'find', '/ctx', '-type', 'f').trim().split('\n').sort();
    assert.deepEqual(listing, ['/ctx/.dockerignore', '/ctx/Dockerfile', '/ctx/app/main.sh', '/ctx/keep.log']);
  });

  it('a failing RUN: exit 1, the step named, its output shown, nothing tagged', () => {
    const run = build(['-t', 'broken', '--progress', 'plain', '-'], 'FROM busybox\nRUN echo about-to-fail && exit 3\n');
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, / > .*RUN echo about-to-fail && exit 3:\n.*about-to-fail\n/);
    assert.match(run.stderr, /ctl build: .*exit code:? 3/);
    assert.doesNotMatch(engine.ok('image', 'ls', '-q'), /broken/);
  });

  it('-q prints only the image id, which --iidfile writes too', () => {
    const iid = join(engine.instance.base, 'iid');
    const run = build(['-q', '--iidfile', iid, '-'], 'FROM busybox\nLABEL built=yes\n');
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^sha256:[0-9a-f]{64}\n$/);
    assert.equal(readFileSync(iid, 'utf8'), run.stdout.trim());
  });

  /** The blobs of an OCI archive (tar of an image layout), by digest. */
  const archiveBlobs = (file: string): Map<string, Buffer> => {
    const dir = join(engine.instance.base, `unpacked-${Math.random().toString(36).slice(2)}`);
    mkdirSync(dir);
    execFileSync('tar', ['-xf', file, '-C', dir]);
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const blob = (digest: string) => readFileSync(join(dir, 'blobs', 'sha256', digest.slice(7)));
    const manifest = JSON.parse(blob(index.manifests[0]!.digest).toString()) as { layers: { mediaType: string; digest: string }[] };
    return new Map(manifest.layers.map((l) => [`${l.mediaType} ${l.digest}`, blob(l.digest)]));
  };

  it('-o type=oci,compression=zstd: zstd layers in the archive, the image runs; type=image,compression=zstd alone', () => {
    const out = join(engine.instance.base, 'zstd.tar');
    const run = build(['-t', 'zstd:1', '-o', `type=oci,dest=${out},compression=zstd`, '-'], 'FROM busybox\nRUN echo squeezed > /z\n');
    assert.equal(run.code, 0, run.stderr);
    const layers = [...archiveBlobs(out)];
    const [type, data] = layers[layers.length - 1]!;
    assert.match(type, /^application\/vnd\.oci\.image\.layer\.v1\.tar\+zstd /);
    assert.deepEqual([...data.subarray(0, 4)], [0x28, 0xb5, 0x2f, 0xfd]);
    assert.equal(engine.ok('run', '--rm', 'zstd:1', 'cat', '/z'), 'squeezed\n');
    const image = build(['-t', 'zstd:2', '-o', 'type=image,compression=zstd', '-'], 'FROM busybox\nRUN echo again > /z\n');
    assert.equal(image.code, 0, image.stderr);
    assert.equal(engine.ok('run', '--rm', 'zstd:2', 'cat', '/z'), 'again\n');
  });

  it("keeps a context file's user.test and a stage file's security.capability: in the layers, and effective in a container", () => {
    const dir = context('xattr-ctx', {
      Dockerfile: [
        'FROM busybox AS stage',
        'COPY busybox-cap /stage/busybox-cap',
        'FROM busybox',
        'COPY tagged /tagged',
        'COPY --from=stage /stage/busybox-cap /busybox-cap',
        '',
      ].join('\n'),
      tagged: 'tagged\n',
    });
    setXattr(join(dir, 'tagged'), 'user.test', Buffer.from('hello'));
    // A busybox whose name starts with "busybox" runs its first argument as the applet.
    const capped = join(dir, 'busybox-cap');
    copyFileSync('/bin/busybox', capped);
    const setcap = spawnSync('setcap', ['cap_net_raw+ep', capped]);
    // cap_net_raw+ep as setcap writes it: VFS_CAP_REVISION_2, effective, permitted bit 13.
    if (setcap.status !== 0)
      setXattr(capped, 'security.capability', Buffer.from([1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    const out = join(engine.instance.base, 'xattr.tar');
    const run = build(['-t', 'xattr:1', '-o', `type=oci,dest=${out}`, dir]);
    assert.equal(run.code, 0, run.stderr);
    const layers = [...archiveBlobs(out).values()].map((b) => gunzipSync(b));
    const top = layers.slice(-2);
    assert.ok(top[0]!.includes('SCHILY.xattr.user.test=hello\n'), 'the COPY of the context file');
    const capRecord = Buffer.concat([
      Buffer.from('SCHILY.xattr.security.capability='),
      getXattr(capped, 'security.capability')!,
      Buffer.from('\n'),
    ]);
    assert.ok(top[1]!.includes(capRecord), 'the COPY --from the stage');
    const status = engine.ok('run', '--rm', '--user', '1000:1000', 'xattr:1', '/busybox-cap', 'grep', 'CapEff', '/proc/self/status');
    assert.match(status, /^CapEff:\s+0000000000002000$/m, 'the file capability raises CAP_NET_RAW for an unprivileged user');
    assert.match(engine.ok('run', '--rm', '--user', '1000:1000', 'xattr:1', 'grep', 'CapEff', '/proc/self/status'), /^CapEff:\s+0{16}$/m);
  });
});
