/**
 * `ctl build --pull` against a real registry (Debian's docker-registry on 127.0.0.1, see
 * registry.ts): the registry's base image changes under the same tag; a build without --pull
 * keeps the local one and asks the registry nothing, a build with --pull fetches the new one
 * (the registry's own access log says what was asked) and builds on it.
 */
import { strict as assert } from 'node:assert';
import { useEngine } from './engine';
import { builder } from './build-helpers';
import { type TestRegistry, startRegistry } from './registry';

describe('ctl build --pull (a registry on 127.0.0.1)', function () {
  this.timeout(120_000);
  afterEach(() => ctl.nothingLeft());
  const engine = useEngine('build-pull');
  const ctl = builder(engine);
  let registry: TestRegistry;

  before(async () => {
    registry = await startRegistry();
  });
  after(async () => {
    await registry?.stop();
  });

  /** What the app image saw of its base: /base-version, copied at build time. */
  const version = (image: string): string => engine.ok('run', '--rm', image, 'cat', '/seen').trim();
  const targetOf = (name: string): string | undefined =>
    (JSON.parse(engine.ok('image', 'ls', '--format', 'json')) as { name: string; target: { digest: string } }[]).find(
      (i) => i.name === (name.includes('/') ? name : `docker.io/library/${name}:latest`),
    )?.target.digest;
  const built = (args: string[]): string => {
    const run = ctl.build(args);
    assert.equal(run.code, 0, run.stderr);
    return run.id!;
  };

  it('without --pull the local base is used; with it, the registry’s newer one under the same tag', async () => {
    const base = `${registry.host}/build-base:1`;
    const baseV1 = built(['-t', 'base-v1', ctl.context('base-v1', { Dockerfile: 'FROM busybox\nRUN echo v1 > /base-version\n' })]);
    const baseV2 = built(['-t', 'base-v2', ctl.context('base-v2', { Dockerfile: 'FROM busybox\nRUN echo v2 > /base-version\n' })]);
    assert.notEqual(baseV1, baseV2);
    // The registry gets v2 under the tag; here the tag stays on v1.
    engine.ok('image', 'tag', 'base-v2', base);
    engine.ok('push', base);
    engine.ok('image', 'tag', 'base-v1', base);
    await registry.requests();

    const app = ctl.context('app', { Dockerfile: `FROM ${base}\nRUN cp /base-version /seen\n` });
    built(['-t', 'app', app]);
    assert.equal(version('app'), 'v1', 'the local base');
    assert.deepEqual(await registry.requests(), [], 'a build without --pull asks the registry nothing');

    built(['-t', 'app', '--pull', app]);
    assert.equal(version('app'), 'v2', 'the registry’s base');
    const asked = await registry.requests();
    assert.ok(
      asked.some((r) => r.method === 'GET' && r.path === '/v2/build-base/manifests/1' && r.status === 200),
      JSON.stringify(asked),
    );
    // As docker's pull: the local tag now names what the registry has.
    assert.ok(targetOf('base-v2'));
    assert.equal(targetOf(base), targetOf('base-v2'));

    // Pulling again finds nothing new: the steps come from the cache.
    const again = ctl.build(['-t', 'app', '--pull', '--progress', 'plain', app]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /\[2\/2\] RUN cp \/base-version \/seen\n#\d+ CACHED\n/);
  });

  it('--pull of a base the registry does not have: the local one with a warning; absent here too, the pull’s error', () => {
    const missing = `${registry.host}/never-pushed:1`;
    engine.ok('image', 'tag', 'busybox', missing);
    const run = ctl.build(['-t', 'local-only', '--pull', '--progress', 'plain', ctl.context('local', { Dockerfile: `FROM ${missing}\n` })]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, new RegExp(`pulling ${missing.replace(/\./g, '\\.')} failed, the local image is used`));
    engine.ok('image', 'rm', missing);
    const gone = ctl.build(['--pull', ctl.context('gone', { Dockerfile: `FROM ${missing}\n` })]);
    assert.equal(gone.code, 1, gone.stderr);
    assert.match(gone.stderr, /is not in the image store, and pulling it failed: /);
  });
});
