/**
 * `ctl build` against buildah bud (Debian's) on the same Dockerfiles: the image config field by
 * field, the history (entries, empty_layer flags, layers lined up with the non-empty entries)
 * and each layer's contents (names, types, modes, owners, links, file contents; not times).
 * Every image is also run, to see that it does what its Dockerfile says.
 *
 * docker (BuildKit) is the reference; where buildah does otherwise the comparison allows it,
 * and says so where it does:
 * - buildah leaves the mount points of a RUN (/etc/hosts, /etc/hostname, /etc/resolv.conf, /run)
 *   in the step's layer; BuildKit does not.
 * - A step that changes nothing is an empty layer in buildah; BuildKit makes no layer, the
 *   history entry has empty_layer.
 * - EXPOSE 8000-8002: docker exposes each port, buildah keeps the range as one key.
 * - buildah writes [] for an Entrypoint or Cmd that docker leaves null (both mean none).
 * - VOLUME: buildah makes the directory at the next RUN (in its layer); BuildKit does not make it.
 * - SHELL: docker runs a shell-form ENTRYPOINT and CMD with it; buildah 1.28 with /bin/sh -c.
 * - WORKDIR: BuildKit makes the directory at once, a layer of its own; buildah notes the
 *   directory and makes it in the next step that runs (so it is in that step's layer).
 */
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { useEngine } from './engine';
import { type ArchivedImage, Buildah, type LayerEntry, type RunConfig, builder, tarOf } from './build-helpers';

const FIELDS: (keyof RunConfig)[] = [
  'Cmd',
  'Entrypoint',
  'Env',
  'WorkingDir',
  'User',
  'ExposedPorts',
  'Volumes',
  'Labels',
  'StopSignal',
  'Healthcheck',
  'OnBuild',
  'Shell',
];

/** A field unset, null or empty the same (docker omits or writes null where buildah writes [] or {}). */
function present(value: unknown): unknown {
  if (value === null || value === undefined || value === '') return undefined;
  if (typeof value === 'object' && Object.keys(value).length === 0) return undefined;
  return value;
}

/** buildah keeps an EXPOSE range as one key ("8000-8002/tcp"); docker has a key per port. */
function portsOneByOne(ports: Record<string, object> | null | undefined): Record<string, object> | undefined {
  if (!ports) return undefined;
  const out: Record<string, object> = {};
  for (const key of Object.keys(ports)) {
    const m = /^(\d+)-(\d+)\/(\w+)$/.exec(key);
    if (!m) out[key] = {};
    else for (let p = Number(m[1]); p <= Number(m[2]); p++) out[`${p}/${m[3]}`] = {};
  }
  return out;
}

const pathOf = (entry: LayerEntry): string => entry.slice(0, entry.indexOf(' '));

/**
 * What buildah's RUN leaves in a layer that BuildKit does not: the mount points it made, and
 * their directories when nothing else there changed.
 */
const BUILDAH_MOUNT_POINTS = new Set(['etc/hostname', 'etc/hosts', 'etc/resolv.conf']);
function withoutBuildahMountPoints(layer: LayerEntry[]): LayerEntry[] {
  const kept = layer.filter((e) => !BUILDAH_MOUNT_POINTS.has(pathOf(e)));
  const under = (dir: string): boolean => kept.some((e) => pathOf(e).startsWith(`${dir}/`));
  return kept.filter((e) => !(['etc', 'run'].includes(pathOf(e)) && / d /.test(e) && !under(pathOf(e))));
}

interface Step {
  createdBy: string;
  layer?: LayerEntry[];
}

/** History entries with the layer each non-empty one has; asserts that they line up. */
function stepsOf(image: ArchivedImage, who: string): Step[] {
  const history = image.config.history ?? [];
  const withLayer = history.filter((h) => !h.empty_layer).length;
  assert.equal(withLayer, image.layers.length, `${who}: one layer per non-empty history entry`);
  assert.equal(image.config.rootfs.diff_ids.length, image.layers.length, `${who}: a diff id per layer`);
  let next = 0;
  return history.map((h) => ({ createdBy: h.created_by ?? '', ...(h.empty_layer ? {} : { layer: image.layers[next++]! }) }));
}

/**
 * Asserts that ctl's image is buildah's, field by field and layer by layer, less the differences
 * above. dockerWhereBuildahDiffers: fields where buildah is known not to do what docker does,
 * with docker's value (which ctl's must be).
 */
function assertSameImage(ours: ArchivedImage, theirs: ArchivedImage, dockerWhereBuildahDiffers: Partial<RunConfig> = {}): void {
  const theirConfig = {
    ...theirs.config.config,
    ExposedPorts: portsOneByOne(theirs.config.config?.ExposedPorts),
    ...dockerWhereBuildahDiffers,
  };
  for (const field of FIELDS) assert.deepEqual(present(ours.config.config?.[field]), present(theirConfig[field]), `config field ${field}`);
  assert.deepEqual([ours.config.os, ours.config.architecture], [theirs.config.os, theirs.config.architecture]);
  const ourSteps = stepsOf(ours, 'ctl');
  const theirSteps = stepsOf(theirs, 'buildah').map((s) => {
    const layer = s.layer && withoutBuildahMountPoints(s.layer);
    return { createdBy: s.createdBy, ...(layer?.length ? { layer } : {}) };
  });
  const describe = (steps: Step[]): string => steps.map((s) => `${s.layer ? 'L' : '-'} ${s.createdBy}`).join('\n');
  assert.equal(ourSteps.length, theirSteps.length, `history entries:\n${describe(ourSteps)}\n--- buildah:\n${describe(theirSteps)}`);
  // Directories buildah makes when a step runs, not where docker makes them (see above).
  let workdirs = new Set<string>();
  const volumes = Object.keys(ours.config.config?.Volumes ?? {}).map((v) => v.replace(/^\//, ''));
  ourSteps.forEach((ours, i) => {
    const theirs = theirSteps[i]!;
    const step = `history entry ${i} (${ours.createdBy} / ${theirs.createdBy})`;
    if (ours.layer && !theirs.layer && ours.createdBy.startsWith('WORKDIR ')) {
      for (const e of ours.layer) workdirs.add(pathOf(e));
      return;
    }
    assert.equal(Boolean(ours.layer), Boolean(theirs.layer), `${step}: a layer in both or in neither`);
    if (!ours.layer || !theirs.layer) return;
    const ourPaths = new Set(ours.layer.map(pathOf));
    const byBuildahOnly = (path: string): boolean => (workdirs.has(path) || volumes.includes(path)) && !ourPaths.has(path);
    const expected = theirs.layer.filter((e) => !byBuildahOnly(pathOf(e)));
    assert.deepEqual(ours.layer, expected, `${step}: the layer's entries`);
    workdirs = new Set();
  });
}

describe('ctl build against buildah bud: config, history and layers', function () {
  this.timeout(180_000);
  // Before the engine's own afterEach, which removes every container.
  afterEach(() => ctl.nothingLeft());
  const engine = useEngine('build-conformance');
  const ctl = builder(engine);
  let buildah: Buildah;

  before(function () {
    if (!Buildah.available()) this.skip();
    buildah = new Buildah(join(engine.instance.base, 'buildah'));
    // The archive the engine imported its busybox from.
    buildah.setUp(join(engine.instance.base, 'busybox.tar'));
  });
  after(() => buildah?.tearDown());

  /** Builds the context with both (at once); both images read back, after asserting ctl's build succeeded. */
  async function bothBuild(context: string, tag: string, args: string[] = []): Promise<{ ours: ArchivedImage; theirs: ArchivedImage }> {
    const building = buildah.bud(context, tag, args);
    const run = ctl.build(['-q', '-t', tag, ...args, context]);
    await building;
    assert.equal(run.code, 0, run.stderr);
    const [ours, theirs] = await Promise.all([ctl.image(tag), buildah.image(tag)]);
    return { ours, theirs };
  }

  /** Runs a shell script in the image (its entrypoint set aside); stdout. */
  const sh = (image: string, script: string, ...runArgs: string[]): string =>
    engine.ok('run', '--rm', ...runArgs, '--entrypoint', '/bin/sh', image, '-c', script);

  it('a Dockerfile of every single-stage instruction: the same config, history and layers; the image does what it says', async () => {
    const dir = ctl.context('app', {
      Dockerfile: [
        '# syntax=docker/dockerfile:1',
        'ARG BASE=busybox',
        'FROM ${BASE} AS base',
        'ARG GREETING=hello',
        'ENV APP_HOME=/app \\',
        '    MODE="${GREETING:-none}" ALT=${UNSET:+alt} ALT2=${GREETING:+alt} \\',
        '    DEF=${UNSET:-fallback}',
        '# a comment between instructions',
        'WORKDIR $APP_HOME',
        'RUN echo "$MODE" > mode.txt \\',
        '  && mkdir -p /data && chown 65534:65534 /data \\',
        '  && ln mode.txt mode-hard.txt && rm /bin/vi \\',
        '  && echo x > setuid && chmod 4750 setuid',
        'RUN ["sh", "-c", "echo exec-form > /app/exec.txt"]',
        'COPY files/ /app/files/',
        'COPY --chown=65534:65534 --chmod=640 a.txt b*.txt /app/owned/',
        'COPY --chown=nobody:nogroup files/sub /app/sub-owned',
        'ADD archive.tar /app/extracted/',
        'ADD archive.tar.gz archive.tar.xz archive.tar.bz2 archive.tar.zst /app/extracted-more/',
        'ADD notes.txt.gz /app/',
        'ADD --chown=65534:65534 a.txt /app/added-owned.txt',
        'COPY --chmod=750 files/sub /app/chmod-dir/',
        'WORKDIR sub',
        'COPY files/*.txt rel/',
        'RUN rm -rf /root /var/tmp && mkdir /var/tmp && touch /var/tmp/fresh',
        'ENV LEGACY value with spaces',
        'LABEL org.example.name="demo app" version=1.0 \\',
        '      multi.line="first \\',
        'second" quoted="a \\"quoted\\" word"',
        'ARG PORT=8080',
        'EXPOSE 80 443/tcp 53/udp 8000-8002 ${PORT}',
        'VOLUME ["/data"]',
        'VOLUME /cache /logs',
        'USER 65534:65534',
        'WORKDIR /home/nobody',
        'USER nobody',
        'RUN id -u > uid.txt && echo "$DEF $ALT2" > def.txt',
        'STOPSIGNAL SIGTERM',
        'HEALTHCHECK --interval=30s --timeout=5s --start-period=1s --retries=3 CMD wget -q -O- http://localhost/ || exit 1',
        'SHELL ["/bin/sh", "-ec"]',
        'RUN echo "$0 $-" > shell.txt',
        'ONBUILD RUN echo onbuild > /tmp/onbuild.txt',
        'ONBUILD ENV FROM_ONBUILD=yes',
        'ENTRYPOINT ["/bin/sh", "-c"]',
        'CMD ["echo $MODE from $APP_HOME"]',
        '',
      ].join('\n'),
      'files/one.txt': 'one\n',
      'files/sub/two.txt': 'two\n',
      'files/link': { symlink: 'one.txt' },
      'a.txt': 'a\n',
      'b1.txt': 'b1\n',
      'b2.txt': 'b2\n',
      'archive.tar': tarOf(engine.instance.base, { 'inside.txt': 'in a tar\n', 'd/deep.txt': 'deep\n' }),
      'archive.tar.gz': tarOf(engine.instance.base, { 'gz.txt': 'gzip\n' }, ['gzip', '-n']),
      'archive.tar.xz': tarOf(engine.instance.base, { 'xz.txt': 'xz\n' }, ['xz']),
      'archive.tar.bz2': tarOf(engine.instance.base, { 'd/bz2.txt': 'bzip2\n' }, ['bzip2']),
      'archive.tar.zst': tarOf(engine.instance.base, { 'zst.txt': 'zstd\n' }, ['zstd', '-q']),
      'notes.txt.gz': gzipSync('not a tar\n'),
    });
    const { ours, theirs } = await bothBuild(dir, 'conf-app');
    assertSameImage(ours, theirs);

    assert.equal(engine.ok('run', '--rm', 'conf-app'), 'hello from /app\n', 'ENTRYPOINT and CMD');
    const seen = sh(
      'conf-app',
      [
        'pwd',
        'cd /app',
        'cat mode.txt exec.txt extracted/inside.txt extracted/d/deep.txt extracted-more/gz.txt extracted-more/xz.txt extracted-more/d/bz2.txt extracted-more/zst.txt',
        'gunzip -c notes.txt.gz',
        'stat -c "%n %u:%g %a" owned/a.txt owned/b1.txt owned/b2.txt sub-owned/two.txt /home/nobody setuid',
        'stat -c "%n %u:%g %a" added-owned.txt chmod-dir chmod-dir/two.txt',
        'ls sub/rel',
        'ls /var/tmp',
        'test ! -e /root && echo no-root',
        'stat -c "%h" mode.txt',
        'readlink files/link',
        'test ! -e /bin/vi && echo no-vi',
        'cat /home/nobody/uid.txt /home/nobody/def.txt /home/nobody/shell.txt',
        'id -un',
      ].join('; '),
    );
    assert.equal(
      seen,
      [
        '/home/nobody',
        'hello',
        'exec-form',
        'in a tar',
        'deep',
        'gzip',
        'xz',
        'bzip2',
        'zstd',
        'not a tar',
        'owned/a.txt 65534:65534 640',
        'owned/b1.txt 65534:65534 640',
        'owned/b2.txt 65534:65534 640',
        'sub-owned/two.txt 65534:65534 644',
        '/home/nobody 65534:65534 755',
        'setuid 0:0 4750',
        'added-owned.txt 65534:65534 644',
        // BuildKit's too: the directory a copy of contents goes into is made on the way, --chmod is for what is copied.
        'chmod-dir 0:0 755',
        'chmod-dir/two.txt 0:0 750',
        'one.txt',
        'fresh',
        'no-root',
        '2',
        'one.txt',
        'no-vi',
        '65534',
        'fallback alt',
        '/bin/sh ce',
        'nobody',
        '',
      ].join('\n'),
    );
  });

  it('multi-stage with ARGs, FROM --platform, scratch, a stage and an image: the same config, history and layers', async () => {
    const dir = ctl.context('multi', {
      Dockerfile: [
        'ARG VERSION=1.0',
        'ARG BASE=busybox',
        'FROM --platform=$BUILDPLATFORM ${BASE} AS build',
        'ARG VERSION',
        'ARG TARGETPLATFORM',
        'ARG TARGETOS TARGETARCH BUILDPLATFORM',
        'RUN mkdir /out && echo "v$VERSION $TARGETPLATFORM $TARGETOS/$TARGETARCH on $BUILDPLATFORM" > /out/version',
        'FROM build AS tested',
        'RUN test -s /out/version && echo checked > /out/checked',
        'FROM scratch',
        'COPY --from=tested /out/ /out/',
        'COPY --from=busybox /bin/busybox /bin/sh',
        'COPY --from=0 /out/version /version-by-index',
        'ENV PATH=/bin',
        'CMD ["sh", "-c", "read v < /out/version; echo $v"]',
        '',
      ].join('\n'),
    });
    const { ours, theirs } = await bothBuild(dir, 'conf-multi', ['--build-arg', 'VERSION=2.5']);
    assertSameImage(ours, theirs);
    const platform = `linux/${ours.config.architecture}`;
    assert.equal(engine.ok('run', '--rm', 'conf-multi'), `v2.5 ${platform} ${platform} on ${platform}\n`);
    assert.equal(engine.ok('run', '--rm', 'conf-multi', 'sh', '-c', 'read c < /out/checked; echo $c'), 'checked\n');
  });

  it('ONBUILD triggers run in a build FROM the image; HEALTHCHECK NONE; an inherited CMD goes with a new ENTRYPOINT', async () => {
    // The base of this test is built by both, under the same short name.
    const base = ctl.context('onbuild-base', {
      Dockerfile: [
        'FROM busybox',
        'ENV MODE=base',
        'ONBUILD RUN echo onbuild > /onbuild.txt',
        'ONBUILD ENV FROM_ONBUILD=yes',
        'HEALTHCHECK CMD ["true"]',
        'CMD ["inherited"]',
        '',
      ].join('\n'),
    });
    const built = await bothBuild(base, 'conf-onbuild-base');
    assertSameImage(built.ours, built.theirs);
    const dir = ctl.context('onbuild', {
      Dockerfile: [
        'FROM conf-onbuild-base',
        'RUN test "$FROM_ONBUILD" = yes && cat /onbuild.txt > /seen.txt',
        'SHELL ["/bin/sh", "-ec"]',
        'HEALTHCHECK NONE',
        'ENTRYPOINT echo "$MODE $FROM_ONBUILD $(cat /seen.txt)"',
        '',
      ].join('\n'),
    });
    const { ours, theirs } = await bothBuild(dir, 'conf-onbuild');
    assertSameImage(ours, theirs, { Entrypoint: ['/bin/sh', '-ec', 'echo "$MODE $FROM_ONBUILD $(cat /seen.txt)"'] });
    assert.equal(present(ours.config.config?.OnBuild), undefined, 'the triggers are not inherited');
    assert.equal(present(ours.config.config?.Cmd), undefined, "ENTRYPOINT drops the base's CMD");
    assert.equal(engine.ok('run', '--rm', 'conf-onbuild'), 'base yes onbuild\n');
  });
});
