/**
 * `ctl build` end to end, each Dockerfile checked by running what it built: variables and ARGs
 * (before FROM, ${VAR:-default}/${VAR:+alt}, the platform family, the proxy args), heredocs and
 * the escape directive, RUN --mount=type=cache, COPY --link, multi-stage targets with ARGs,
 * .dockerignore, the step cache, and a context of 10,000 files. The instructions' results
 * against buildah's are in build-conformance.test.ts.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { useEngine } from './engine';
import { builder, tarOf } from './build-helpers';

const ARCH = process.arch === 'x64' ? 'amd64' : process.arch;

describe('ctl build: Dockerfiles run', function () {
  this.timeout(120_000);
  // Before the engine's own afterEach, which removes every container.
  afterEach(() => ctl.nothingLeft());
  const engine = useEngine('build-dockerfile');
  const ctl = builder(engine);

  /** A file's text in an image. */
  const cat = (image: string, ...paths: string[]): string => engine.ok('run', '--rm', image, 'cat', ...paths);
  /** The numbers of the steps plain progress says were CACHED, and those it ran. */
  const cachedSteps = (stderr: string, instruction: RegExp): boolean[] =>
    [...stderr.matchAll(/^#(\d+) (\[.*)$/gm)]
      .filter((m) => instruction.test(m[2]!))
      .map((m) => new RegExp(`^#${m[1]} CACHED$`, 'm').test(stderr));

  it('ARG before FROM, ${VAR:-default} and ${VAR:+alt}, the platform ARGs once declared, proxy args without ARG and out of history', async () => {
    const dir = ctl.context('args', {
      Dockerfile: [
        'ARG BASE=busybox',
        'ARG GLOBAL=from-global',
        'FROM ${BASE}',
        'ARG GLOBAL',
        'ARG LOCAL=local-default',
        'ARG EMPTY',
        'RUN echo "undeclared=[$TARGETARCH] [$BASE]" > /args',
        'ARG BASE',
        'ARG TARGETPLATFORM',
        'ARG TARGETOS TARGETARCH TARGETVARIANT',
        'ARG BUILDPLATFORM BUILDOS BUILDARCH',
        'RUN echo "base=$BASE global=$GLOBAL local=$LOCAL default=${EMPTY:-dflt} alt=${LOCAL:+set} noalt=[${EMPTY:+set}]" >> /args \\',
        ' && echo "target=$TARGETPLATFORM $TARGETOS/$TARGETARCH[$TARGETVARIANT] build=$BUILDPLATFORM $BUILDOS/$BUILDARCH" >> /args \\',
        ' && echo "proxy=$HTTP_PROXY $https_proxy $NO_PROXY ftp=[$FTP_PROXY]" >> /args',
        'ENV FROM_ARG=${LOCAL}-env DEFAULTED=${EMPTY:-dflt} ALT=${LOCAL:+set} NO_ALT=[${EMPTY:+set}] ESCAPED=\\$LOCAL',
        '',
      ].join('\n'),
    });
    const run = ctl.build([
      '-t',
      'args',
      '--progress',
      'plain',
      '--platform',
      `linux/${ARCH}`,
      ...['--build-arg', 'LOCAL=given', '--build-arg', 'HTTP_PROXY=http://proxy.invalid:3128'],
      ...['--build-arg', 'https_proxy=http://secure.invalid', '--build-arg', 'NO_PROXY=localhost', '--build-arg', 'UNUSED=1'],
      dir,
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /1 warning found:\n - one or more build-args \[UNUSED\] were not consumed\n$/);
    assert.equal(
      cat('args', '/args'),
      [
        'undeclared=[] []',
        'base=busybox global=from-global local=given default=dflt alt=set noalt=[]',
        `target=linux/${ARCH} linux/${ARCH}[] build=linux/${ARCH} linux/${ARCH}`,
        'proxy=http://proxy.invalid:3128 http://secure.invalid localhost ftp=[]',
        '',
      ].join('\n'),
    );
    const { config } = await ctl.image('args');
    assert.deepEqual(config.config?.Env, [
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'FROM_ARG=given-env',
      'DEFAULTED=dflt',
      'ALT=set',
      'NO_ALT=[]',
      'ESCAPED=$LOCAL',
    ]);
    const history = JSON.stringify(config.history);
    assert.match(history, /LOCAL=given/, 'the ARGs a RUN saw are in its history');
    assert.doesNotMatch(history, /proxy\.invalid|secure\.invalid|_PROXY=|_proxy=/, 'proxy args stay out of history');
  });

  it('heredocs as BuildKit has them, the escape directive, line continuations', async () => {
    const dir = ctl.context('heredocs', {
      Dockerfile: [
        '# escape=`',
        'FROM busybox',
        'ARG WHO=world',
        'RUN echo one `',
        '    two > /continued',
        "RUN echo 'C:\\path\\x' > /backslashes",
        'RUN <<EOF',
        'echo "script $WHO" > /heredoc-script',
        'echo "second line" >> /heredoc-script',
        'EOF',
        'RUN <<EOF',
        '#!/bin/sh',
        'echo "$0" > /heredoc-interpreted',
        'EOF',
        "RUN cat <<EOF > /heredoc-fed && cat <<'RAW' > /heredoc-raw",
        'fed $WHO',
        'EOF',
        'raw $WHO',
        'RAW',
        'COPY <<EOF /heredoc-copy',
        'copied $WHO',
        'EOF',
        'COPY <<-EOF /heredoc-tabs',
        '\tindented',
        '\tEOF',
        'COPY <<A <<B /two/',
        'first',
        'A',
        'second',
        'B',
        '',
      ].join('\n'),
    });
    const run = ctl.build(['-q', '-t', 'heredocs', dir]);
    assert.equal(run.code, 0, run.stderr);
    const files = ['/continued', '/backslashes', '/heredoc-script', '/heredoc-interpreted', '/heredoc-fed', '/heredoc-raw'];
    assert.equal(
      cat('heredocs', ...files, '/heredoc-copy', '/heredoc-tabs', '/two/A', '/two/B'),
      [
        'one two',
        'C:\\path\\x',
        'script world',
        'second line',
        '/dev/pipes/EOF',
        'fed world',
        'raw $WHO',
        'copied world',
        'indented',
        'first',
        'second',
        '',
      ].join('\n'),
    );
  });

  it('RUN --mount=type=cache keeps its directory between builds and out of the layers; COPY and ADD --link', async () => {
    const dir = ctl.context('mounts', {
      Dockerfile: [
        'FROM busybox',
        'COPY --link a.txt /linked/',
        'ADD --link b.tar.gz /linked/',
        'RUN --mount=type=cache,target=/var/cache/app,id=bconf-cache echo run >> /var/cache/app/log && wc -l < /var/cache/app/log > /count',
        '',
      ].join('\n'),
      'a.txt': 'a\n',
      'b.tar.gz': tarOf(engine.instance.base, { 'b.txt': 'b\n' }, ['gzip', '-n']),
    });
    assert.equal(ctl.build(['-q', '-t', 'mounts', dir]).code, 0);
    assert.equal(cat('mounts', '/linked/a.txt', '/linked/b.txt', '/count'), 'a\nb\n1\n');
    const again = ctl.build(['-q', '--no-cache', '-t', 'mounts', dir]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(cat('mounts', '/count'), '2\n', 'the second build saw the first one’s file');
    assert.equal(
      engine.run('run', '--rm', 'mounts', 'test', '-e', '/var/cache/app/log').code,
      1,
      'what the cache mount holds is not in the image',
    );
  });

  it('multi-stage with ARGs: --target builds only the stages it needs; an ARG is scoped to its stage', () => {
    const dir = ctl.context('stages', {
      Dockerfile: [
        'ARG V=1',
        'FROM busybox AS a',
        'ARG V',
        'RUN echo "a$V" > /a',
        'FROM busybox AS broken',
        'RUN echo running-broken && exit 9',
        'FROM a AS b',
        'RUN echo "b[$V]" > /b',
        'FROM busybox',
        'ARG V=final-default',
        'COPY --from=b /a /b /',
        'RUN echo "final $V" > /final',
        '',
      ].join('\n'),
    });
    const target = ctl.build(['-t', 'stage-b', '--progress', 'plain', '--target', 'b', '--build-arg', 'V=7', dir]);
    assert.equal(target.code, 0, target.stderr);
    assert.doesNotMatch(target.stderr, /running-broken|final/, 'neither the unused stage nor the last one ran');
    assert.equal(cat('stage-b', '/a', '/b'), 'a7\nb[]\n');
    const last = ctl.build(['-t', 'stage-final', '--progress', 'plain', dir]);
    assert.equal(last.code, 0, last.stderr);
    assert.doesNotMatch(last.stderr, /running-broken/);
    assert.equal(cat('stage-final', '/a', '/b', '/final'), 'a1\nb[]\nfinal final-default\n');
  });

  it('.dockerignore: patterns, **, ! exceptions, last match wins; the Dockerfile builds though ignored, ignored directories are not walked', () => {
    const dir = ctl.context('ignore', {
      Dockerfile: 'FROM busybox\nCOPY . /ctx/\n',
      '.dockerignore': [
        '# a comment',
        '*.log',
        '!keep.log',
        '**/*.tmp',
        'build',
        '!build/keep/**',
        '*.md',
        '!docs/**',
        'docs/**/draft*',
        '/rooted.txt',
        'sub/../cleaned.txt',
        'cache/',
        'Dockerfile',
        '.dockerignore',
        '',
      ].join('\n'),
      'a.log': 'x',
      'keep.log': 'x',
      'top.tmp': 'x',
      'x/y/z.tmp': 'x',
      'x/y/kept.txt': 'x',
      'build/out.bin': 'x',
      'build/keep/k.txt': 'x',
      'README.md': 'x',
      'docs/final.md': 'x',
      'docs/a/b/draft-1.md': 'x',
      'rooted.txt': 'x',
      'nested/rooted.txt': 'x',
      'cleaned.txt': 'x',
      'src/main.c': 'x',
      'cache/big.bin': 'x',
    });
    // A named pipe would be warned about, were the ignored directory walked.
    execFileSync('mkfifo', [join(dir, 'cache', 'pipe')]);
    const run = ctl.build(['-t', 'ignored', '--progress', 'plain', dir]);
    assert.equal(run.code, 0, run.stderr);
    assert.doesNotMatch(run.stderr, /warning/i);
    const listing = engine.ok('run', '--rm', 'ignored', 'find', '/ctx', '-type', 'f').trim().split('\n').sort();
    assert.deepEqual(listing, [
      '/ctx/build/keep/k.txt',
      '/ctx/docs/final.md',
      '/ctx/keep.log',
      '/ctx/nested/rooted.txt',
      '/ctx/src/main.c',
      '/ctx/x/y/kept.txt',
    ]);
  });

  it('the cache: an unchanged rebuild runs nothing and gives the same image; a new mtime is no change, new content is; --no-cache runs all', () => {
    const dir = ctl.context('cache', {
      Dockerfile:
        'FROM busybox\nCOPY app.txt /app/\nRUN echo "ran on $(cat /app/app.txt)" && cat /app/app.txt > /app/copy\nLABEL stage=last\n',
      'app.txt': 'one\n',
    });
    const build = (...args: string[]) => {
      const run = ctl.build(['-t', 'cached', '--progress', 'plain', ...args, dir]);
      assert.equal(run.code, 0, run.stderr);
      return { ...run, cached: cachedSteps(run.stderr, /\] (COPY|RUN|LABEL)/), ran: /^#\d+ [\d.]+ ran on/m.test(run.stderr) };
    };
    const first = build();
    assert.deepEqual([first.cached, first.ran], [[false, false, false], true]);
    const again = build();
    assert.deepEqual([again.cached, again.ran, again.id], [[true, true, true], false, first.id]);
    const later = new Date(Date.now() + 3600_000);
    utimesSync(join(dir, 'app.txt'), later, later);
    const touched = build();
    assert.deepEqual([touched.cached, touched.id], [[true, true, true], first.id], 'a new mtime is not a change');
    writeFileSync(join(dir, 'app.txt'), 'two\n');
    const changed = build();
    assert.deepEqual([changed.cached, changed.ran], [[false, false, false], true]);
    assert.notEqual(changed.id, first.id);
    assert.equal(cat('cached', '/app/copy'), 'two\n');
    const fresh = build('--no-cache');
    assert.deepEqual([fresh.cached, fresh.ran], [[false, false, false], true]);
    assert.notEqual(fresh.id, changed.id, 'new history times');
  });

  it('a context of 10,000 files', function () {
    const dir = ctl.context('many', { Dockerfile: 'FROM busybox\nCOPY . /ctx/\nRUN find /ctx -type f | wc -l > /count\n' });
    for (let d = 0; d < 100; d++) {
      mkdirSync(join(dir, `d${d}`));
      for (let f = 0; f < 100; f++) writeFileSync(join(dir, `d${d}`, `f${f}`), `${d}/${f}\n`);
    }
    const run = ctl.build(['-q', '-t', 'many', dir]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(cat('many', '/count', '/ctx/d99/f99', '/ctx/d0/f0'), '10001\n99/99\n0/0\n');
  });
});
