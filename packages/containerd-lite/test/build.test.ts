/**
 * ctl.build.v1 Builder against a real containerd-lite (root, real kernel, overlayfs): RUN steps
 * are real containers, layers real diffs. After every test nothing of a build may be left: no
 * container, no snapshot but image layers, no mount, no lease but the cache's, and the system
 * check finds nothing.
 */
import { ErrorKind, isKind } from '@ctl/proto/errors';
import { waitFor } from '@ctl/proto/testing';
import { status } from '@grpc/grpc-js';
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { join } from 'node:path';
import { BUILD_CACHE_LABEL } from '../src/build/cache';
import type { BuildConfig } from '../src/build/config';
import type { Manifest } from '../src/oci';
import { SystemClient } from '../src/system/client';
import { TasksClient } from '../src/tasks/client';
import { type BuildError, steps, useBuildEngine } from './build-engine';

async function tarNames(data: Buffer): Promise<string[]> {
  const extract = tar.extract();
  Readable.from([data]).pipe(extract as unknown as NodeJS.WritableStream);
  const names: string[] = [];
  for await (const entry of extract) {
    names.push(entry.header.name);
    entry.resume();
  }
  return names;
}

describe('ctl build: the executor, cache and Builder service (root, real kernel)', function () {
  this.timeout(120_000);
  const engine = useBuildEngine('exec');
  afterEach(async function () {
    if (!engine.inst) return;
    const { inst, ns } = engine;
    assert.deepEqual(await inst.containers(ns).list(), [], 'no build container is left');
    const snapshots: string[] = [];
    await engine.snapshots.walk((info) => void snapshots.push(info.name));
    assert.deepEqual(
      snapshots.filter((n) => n.startsWith(`${ns}/`) && !n.startsWith(`${ns}/sha256:`)),
      [],
      'no active snapshot or view is left',
    );
    assert.deepEqual(engine.mounts(), [], 'no mount is left');
    const leases = await inst.leases(ns).list();
    assert.deepEqual(
      leases.filter((l) => !l.labels[BUILD_CACHE_LABEL]).map((l) => l.id),
      [],
      'only the cache holds leases',
    );
    assert.deepEqual(await new TasksClient(inst.wire, ns).list(), [], 'no task is left');
    assert.deepEqual(await new SystemClient(inst.wire).check(), []);
  });

  async function imageOf(name: string): Promise<{ manifest: Manifest; config: BuildConfig; digest: string }> {
    const image = await engine.inst.images(engine.ns).get(name);
    const content = engine.inst.content(engine.ns);
    const read = async (digest: string): Promise<Buffer> => {
      const chunks: Buffer[] = [];
      for await (const c of content.read(digest)) chunks.push(Buffer.from(c));
      return Buffer.concat(chunks);
    };
    const manifest = JSON.parse((await read(image.target.digest)).toString()) as Manifest;
    const config = JSON.parse((await read(manifest.config.digest)).toString()) as BuildConfig;
    return { manifest, config, digest: image.target.digest };
  }

  it('builds FROM busybox with RUN, ENV and CMD: the image runs and has the file', async () => {
    const built = await engine.build(
      'FROM busybox\nENV GREETING=hello\nRUN echo "$GREETING world" > /hello && echo to-stdout && echo to-stderr >&2\nCMD ["cat", "/hello"]\n',
      {},
      { tags: ['example.com/hello:1'] },
    );
    assert.deepEqual(built.result?.names, ['example.com/hello:1']);
    const { manifest, config, digest } = await imageOf('example.com/hello:1');
    assert.equal(built.result?.manifestDigest, digest);
    assert.equal(built.result?.imageId, manifest.config.digest);
    assert.equal(manifest.layers.length, 2, 'busybox and the RUN');
    assert.ok(config.config?.Env?.includes('GREETING=hello'));
    assert.deepEqual(config.config?.Cmd, ['cat', '/hello']);
    const history = config.history!.slice(-3);
    assert.deepEqual(
      history.map((h) => [h.created_by, Boolean(h.empty_layer)]),
      [
        ['ENV GREETING=hello', true],
        ['RUN /bin/sh -c echo "$GREETING world" > /hello && echo to-stdout && echo to-stderr >&2 # buildkit', false],
        ['CMD ["cat","/hello"]', true],
      ],
    );
    // the output came as logs of the RUN step, each stream its own
    const logs = built.events.filter((e) => e.log).map((e) => [e.log!.stream, e.log!.data.toString()]);
    assert.ok(logs.some(([s, d]) => s === 1 && String(d).includes('to-stdout')));
    assert.ok(logs.some(([s, d]) => s === 2 && String(d).includes('to-stderr')));
    // the layer holds the file and no mount point stubs (/etc/hosts, /etc/resolv.conf, …)
    const chunks: Buffer[] = [];
    for await (const c of engine.inst.content(engine.ns).read(manifest.layers[1]!.digest)) chunks.push(Buffer.from(c));
    assert.deepEqual(await tarNames(gunzipSync(Buffer.concat(chunks))), ['hello']);
    assert.equal(await engine.runIn('example.com/hello:1', ['sh', '-c', 'test "$(cat /hello)" = "hello world"']), 0);
  });

  it('fails on a RUN that exits non-zero: the step is named, nothing is tagged, nothing is left', async () => {
    const err = (await engine
      .build('FROM busybox\nRUN echo before\nRUN exit 3\n', {}, { tags: ['example.com/failed:1'] })
      .then(() => assert.fail('the build succeeded'))
      .catch((e: unknown) => e)) as BuildError;
    assert.equal(err.code, status.UNKNOWN);
    assert.match(err.details, /RUN exit 3/);
    assert.match(err.details, /Dockerfile:3/);
    assert.match(err.details, /process "\/bin\/sh -c exit 3" did not complete successfully: exit code: 3/);
    const failed = steps(err).find((s) => s.error);
    assert.match(failed!.name, /\[2\/3\] RUN exit 3|\[3\/3\] RUN exit 3/);
    await assert.rejects(engine.inst.images(engine.ns).get('example.com/failed:1'), (e) => isKind(e, ErrorKind.NotFound));
  });

  it('reuses the cache: an unchanged rebuild is all cached with the same digest; --no-cache runs again', async () => {
    const dockerfile = 'FROM busybox\nARG WHO=me\nRUN echo $WHO > /who\nLABEL a=b\nWORKDIR /srv/app\nUSER nobody\n';
    const first = await engine.build(dockerfile, {}, { tags: ['example.com/cached:1'] });
    const again = await engine.build(dockerfile, {}, { tags: ['example.com/cached:1'] });
    assert.equal(again.result?.manifestDigest, first.result?.manifestDigest);
    const instructions = (b: typeof first) => steps(b).filter((s) => /\] (ARG|RUN|LABEL|WORKDIR|USER)/.test(s.name));
    assert.equal(instructions(first).length, 5);
    assert.ok(instructions(first).every((s) => !s.cached));
    assert.ok(
      instructions(again).every((s) => s.cached),
      JSON.stringify(instructions(again)),
    );
    const rebuilt = await engine.build(dockerfile, {}, { tags: ['example.com/cached:1'], noCache: true });
    assert.ok(instructions(rebuilt).every((s) => !s.cached));
    assert.notEqual(rebuilt.result?.manifestDigest, first.result?.manifestDigest, 'new history times');
    // a build arg changes the RUN (and what follows), not what comes before it
    const other = await engine.build(dockerfile, {}, { tags: ['example.com/cached:2'], buildArgs: { WHO: 'you' } });
    assert.deepEqual(
      instructions(other).map((s) => s.cached),
      [false, false, false, false, false],
    );
    const { config } = await imageOf('example.com/cached:2');
    assert.equal(config.config?.WorkingDir, '/srv/app');
    assert.equal(config.config?.User, 'nobody');
    assert.deepEqual(config.config?.Labels, { a: 'b' });
    assert.ok(!config.config?.Env?.some((e) => e.startsWith('WHO=')), 'ARG values are not kept in the image');
    assert.equal(await engine.runIn('example.com/cached:2', ['sh', '-c', 'test "$(cat /who)" = you && test -d /srv/app']), 0);
    // The cache's leases hold what its records need: with the images gone and garbage collected, still all cached.
    for (const name of ['example.com/cached:1', 'example.com/cached:2']) await engine.inst.images(engine.ns).delete(name);
    await engine.inst.gc.collect();
    const afterGc = await engine.build(dockerfile, {}, { tags: ['example.com/cached:2'], buildArgs: { WHO: 'you' } });
    assert.ok(instructions(afterGc).every((s) => s.cached));
    assert.equal(afterGc.result?.manifestDigest, other.result?.manifestDigest);
    assert.equal(await engine.runIn('example.com/cached:2', ['sh', '-c', 'test "$(cat /who)" = you']), 0);
  });

  it('COPY: changed content invalidates the step, a new mtime does not', async () => {
    const dockerfile = 'FROM busybox\nCOPY app.txt /app/\nRUN cat /app/app.txt\n';
    const copyStep = (b: { events: Parameters<typeof steps>[0]['events'] }) => steps(b).find((s) => s.name.includes('COPY'))!;
    const first = await engine.build(dockerfile, { 'app.txt': { data: 'one', mtime: new Date(1000) } }, { tags: ['example.com/copy:1'] });
    assert.equal(copyStep(first).cached, false);
    const touched = await engine.build(
      dockerfile,
      { 'app.txt': { data: 'one', mtime: new Date(2000_000) } },
      { tags: ['example.com/copy:1'] },
    );
    assert.equal(copyStep(touched).cached, true);
    assert.equal(touched.result?.manifestDigest, first.result?.manifestDigest);
    const changed = await engine.build(dockerfile, { 'app.txt': { data: 'two', mtime: new Date(1000) } }, { tags: ['example.com/copy:1'] });
    assert.equal(copyStep(changed).cached, false);
    assert.equal(await engine.runIn('example.com/copy:1', ['sh', '-c', 'test "$(cat /app/app.txt)" = two']), 0);
    const { config } = await imageOf('example.com/copy:1');
    assert.equal(config.history!.at(-2)!.created_by, 'COPY app.txt /app/ # buildkit');
  });

  it('multi-stage: COPY --from an earlier stage, only the target stage in the image', async () => {
    const built = await engine.build(
      [
        'FROM busybox AS build',
        'RUN mkdir -p /out && echo built > /out/artifact && echo junk > /junk',
        'FROM busybox AS unused',
        'RUN exit 1',
        'FROM busybox',
        'COPY --from=build /out/artifact /artifact',
        '',
      ].join('\n'),
      {},
      { tags: ['example.com/multi:1'] },
    );
    assert.ok(!steps(built).some((s) => s.name.includes('exit 1')), 'the unused stage does not run');
    const { manifest } = await imageOf('example.com/multi:1');
    assert.equal(manifest.layers.length, 2);
    assert.equal(await engine.runIn('example.com/multi:1', ['sh', '-c', 'test "$(cat /artifact)" = built && test ! -e /junk']), 0);
  });

  it('builds FROM scratch: a RUN there leaves none of its mount points behind, WORKDIR makes its directories', async () => {
    const built = await engine.build(
      [
        'FROM busybox AS tools',
        'FROM scratch',
        'COPY --from=tools /bin/busybox /bin/busybox',
        'RUN ["/bin/busybox", "echo", "from scratch"]',
        'WORKDIR /srv/app',
        '',
      ].join('\n'),
      {},
      { tags: ['example.com/scratch:1'] },
    );
    assert.match(
      built.events
        .filter((e) => e.log)
        .map((e) => e.log!.data.toString())
        .join(''),
      /from scratch/,
    );
    const { manifest, config } = await imageOf('example.com/scratch:1');
    assert.deepEqual(
      config.history!.map((h) => [h.created_by, Boolean(h.empty_layer)]),
      [
        ['COPY --from=tools /bin/busybox /bin/busybox # buildkit', false],
        ['RUN /bin/busybox echo from scratch', true],
        ['WORKDIR /srv/app # buildkit', false],
      ],
    );
    assert.equal(manifest.layers.length, 2);
    assert.equal(await engine.runIn('example.com/scratch:1', ['/bin/busybox', 'test', '-d', '/srv/app']), 0);
  });

  it('metadata-only steps and an empty RUN add history entries with empty_layer and no layer', async () => {
    await engine.build(
      [
        'FROM busybox',
        'LABEL version=1',
        'EXPOSE 80 53/udp',
        'VOLUME /data',
        'STOPSIGNAL SIGINT',
        'ENTRYPOINT ["/bin/sh"]',
        'HEALTHCHECK --interval=30s CMD true',
        'SHELL ["/bin/sh", "-ec"]',
        'ONBUILD RUN echo child',
        'RUN true',
        '',
      ].join('\n'),
      {},
      { tags: ['example.com/meta:1'], labels: { from: 'option' } },
    );
    const { manifest, config } = await imageOf('example.com/meta:1');
    assert.equal(manifest.layers.length, 1, 'only busybox');
    const ours = config.history!.slice(1);
    assert.equal(ours.length, 9);
    assert.ok(
      ours.every((h) => h.empty_layer === true),
      JSON.stringify(ours),
    );
    const c = config.config!;
    assert.deepEqual(c.Labels, { version: '1', from: 'option' });
    assert.deepEqual(c.ExposedPorts, { '80/tcp': {}, '53/udp': {} });
    assert.deepEqual(c.Volumes, { '/data': {} });
    assert.equal(c.StopSignal, 'SIGINT');
    assert.deepEqual(c.Entrypoint, ['/bin/sh']);
    assert.equal(c.Cmd, null, "ENTRYPOINT drops the base image's CMD");
    assert.deepEqual(c.Healthcheck, { Test: ['CMD-SHELL', 'true'], Interval: 30e9 });
    assert.deepEqual(c.Shell, ['/bin/sh', '-ec']);
    assert.deepEqual(c.OnBuild, ['RUN echo child']);
    // the child image runs the trigger right after its FROM
    const child = await engine.build('FROM example.com/meta:1\nRUN true\n', {}, { tags: ['example.com/meta-child:1'] });
    const logs = child.events
      .filter((e) => e.log)
      .map((e) => e.log!.data.toString())
      .join('');
    assert.match(logs, /child/);
    assert.equal((await imageOf('example.com/meta-child:1')).config.config?.OnBuild ?? null, null);
  });

  it('says which base image is missing and where; a bad Dockerfile is InvalidArgument naming the line', async () => {
    const missing = (await engine.build('FROM busybox\nFROM example.com/nope:1\nRUN true\n').catch((e: unknown) => e)) as BuildError;
    assert.equal(missing.code, status.NOT_FOUND);
    assert.match(missing.details, /example\.com\/nope:1/);
    assert.match(missing.details, /Dockerfile:2/);
    const bad = (await engine
      .build('FROM busybox\nRUN --mount=type=secret,id=x cat /run/secrets/x\n')
      .catch((e: unknown) => e)) as BuildError;
    assert.equal(bad.code, status.INVALID_ARGUMENT);
    assert.match(bad.details, /Dockerfile:2/);
    assert.match(bad.details, /type=secret/);
  });

  it('cancelled mid-RUN: the task is killed, the container and its snapshot go, nothing is tagged', async () => {
    const call = engine.call('FROM busybox\nRUN echo started && sleep 600\n', {}, { tags: ['example.com/cancelled:1'] });
    await waitFor('the RUN to start', () => call.events.some((e) => e.log?.data.toString().includes('started')), 30_000);
    const running = await engine.inst.containers(engine.ns).list();
    assert.equal(running.length, 1);
    assert.equal(running[0]!.labels['ctl.build'], '1');
    call.cancel();
    await assert.rejects(call.done, (e: BuildError) => e.code === status.CANCELLED);
    await waitFor('the build container to go', async () => (await engine.inst.containers(engine.ns).list()).length === 0, 30_000);
    await waitFor('the build lease to go', async () =>
      (await engine.inst.leases(engine.ns).list()).every((l) => l.labels[BUILD_CACHE_LABEL]),
    );
    await assert.rejects(engine.inst.images(engine.ns).get('example.com/cancelled:1'), (e) => isKind(e, ErrorKind.NotFound));
  });

  it('writes an OCI archive of an untagged build with --output', async () => {
    const dest = join(engine.inst.tmp.base, 'out.tar');
    const built = await engine.build('FROM busybox\nRUN echo x > /x\n', {}, { output: { type: 'oci', dest } });
    assert.deepEqual(built.result?.names, [], 'untagged');
    const names = await tarNames(readFileSync(dest));
    assert.ok(names.includes('index.json') && names.includes('oci-layout'));
    assert.ok(names.includes(`blobs/sha256/${built.result!.manifestDigest.slice('sha256:'.length)}`));
  });

  it('runs independent stages at once; RUN --mount=type=cache shares a directory between steps and builds', async () => {
    // Each stage waits for the other's file in the shared cache mount: one at a time, neither could finish.
    const id = `handshake-${process.hrtime.bigint()}`;
    const wait = (mine: string, theirs: string) =>
      `RUN --mount=type=cache,id=${id},target=/shared touch /shared/${mine} && i=0; until [ -e /shared/${theirs} ]; do i=$((i+1)); [ $i -lt 400 ] || exit 9; sleep 0.05; done`;
    await engine.build(
      [
        'FROM busybox AS a',
        wait('a', 'b'),
        'FROM busybox AS b',
        wait('b', 'a'),
        'FROM busybox',
        'COPY --from=a /etc/passwd /a',
        'COPY --from=b /etc/passwd /b',
        `RUN --mount=type=cache,id=${id},target=/shared test -e /shared/a && test -e /shared/b`,
        '',
      ].join('\n'),
      {},
      { tags: ['example.com/parallel:1'] },
    );
    const { manifest } = await imageOf('example.com/parallel:1');
    assert.equal(manifest.layers.length, 3, 'the cache mount leaves nothing in the layers');
    await engine.build(`FROM busybox\nRUN --mount=type=cache,id=${id},target=/later test -e /later/a\n`);
  });

  it('gives RUN the ARGs in scope, the platform ARGs declared, and proxy args without ARG, which stay out of history', async () => {
    const built = await engine.build(
      [
        'FROM busybox',
        'ARG TARGETARCH',
        'ARG TARGETPLATFORM',
        'ARG MODE=fast',
        'RUN test -n "$TARGETARCH" && case "$TARGETPLATFORM" in linux/$TARGETARCH*) ;; *) exit 1;; esac && test "$MODE" = slow && test "$HTTP_PROXY" = http://proxy.invalid:3128',
        '',
      ].join('\n'),
      {},
      { tags: ['example.com/args:1'], buildArgs: { MODE: 'slow', HTTP_PROXY: 'http://proxy.invalid:3128', UNUSED: 'x' } },
    );
    const { config } = await imageOf('example.com/args:1');
    const run = config.history!.at(-1)!.created_by!;
    assert.match(run, /^RUN \|3 TARGETARCH=\S+ TARGETPLATFORM=linux\/\S+ MODE=slow \/bin\/sh -c /);
    assert.doesNotMatch(run, /HTTP_PROXY=/);
    assert.ok(!config.config?.Env?.some((e) => /^(MODE|HTTP_PROXY|TARGETARCH)=/.test(e)));
    const warnings = built.events.filter((e) => e.warning).map((e) => e.warning!.message);
    assert.deepEqual(warnings, ['one or more build-args [UNUSED] were not consumed']);
  });

  it('lists the cache records and prunes them with their leases', async () => {
    await engine.build('FROM busybox\nRUN echo prune-me > /p\n', {}, { tags: ['example.com/prune:1'] });
    const records = await engine.listCache();
    const run = records.find((r) => r.description === 'RUN echo prune-me > /p');
    assert.ok(run, JSON.stringify(records.map((r) => r.description)));
    assert.ok(Number(run.size) > 0);
    assert.ok(
      records.every((r, i) => i === 0 || Number(records[i - 1]!.lastUsedAtNs) >= Number(r.lastUsedAtNs)),
      'newest use first',
    );
    assert.equal((await engine.prune(false, 3600)).removed, 0, 'nothing is an hour old');
    const pruned = await engine.prune(true);
    assert.equal(Number(pruned.removed), records.length);
    assert.deepEqual(await engine.listCache(), []);
    assert.deepEqual(await engine.inst.leases(engine.ns).list(), [], 'the cache leases went with the records');
    const again = await engine.build('FROM busybox\nRUN echo prune-me > /p\n', {}, { tags: ['example.com/prune:1'] });
    assert.ok(!steps(again).find((s) => s.name.includes('prune-me'))!.cached);
  });

  it('runs heredocs as BuildKit does: a script by the shell or by its #! line, a body fed to a command, a file for COPY', async () => {
    const dockerfile = [
      'FROM busybox',
      'RUN <<EOF',
      'echo one > /one',
      'echo two >> /one',
      'EOF',
      'RUN <<EOF',
      '#!/bin/busybox sh',
      'echo "$0" > /script-name',
      'EOF',
      'RUN cat <<EOF > /fed',
      'fed $((1+1))',
      'EOF',
      'ARG WHO=world',
      'COPY <<EOF /greeting',
      'hello $WHO',
      'EOF',
      '',
    ].join('\n');
    await engine.build(dockerfile, {}, { tags: ['example.com/heredoc:1'] });
    const has = (path: string, text: string) => engine.runIn('example.com/heredoc:1', ['sh', '-c', `test "$(cat ${path})" = '${text}'`]);
    assert.equal(await has('/one', 'one\ntwo'), 0, 'the script ran by the shell');
    assert.equal(await has('/script-name', '/dev/pipes/EOF'), 0, 'the script ran by its #! line');
    assert.equal(await has('/fed', 'fed 2'), 0, 'the body fed to the command (the shell expands it)');
    assert.equal(await has('/greeting', 'hello world'), 0, 'the file COPY made');
  });
});
