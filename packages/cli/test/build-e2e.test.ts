/**
 * `ctl build` end to end on one engine. Dockerfiles, each checked by running what it built:
 * variables and ARGs (before FROM, ${VAR:-default}/${VAR:+alt}, the platform family, the proxy
 * args), heredocs and the escape directive, RUN --mount=type=cache, COPY/ADD --link,
 * multi-stage targets with ARGs, .dockerignore, the step cache, a context of 10,000 files. And
 * builds that cannot or must not finish: a failing RUN, Ctrl-C mid-RUN, syntax errors, bad
 * input (unknown instructions, missing stages and images, paths out of the context, a context
 * that is neither a directory nor a tar, a --build-arg with no value); each says what and
 * where (the Dockerfile's line) and tags nothing. After every test nothing of a build is left:
 * no container, process, snapshot or mount, and the system check finds nothing. The
 * instructions' results against buildah's are in build-conformance.test.ts.
 */
import { waitFor } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { useEngine } from './engine';
import { builder, tarOf } from './build-helpers';

const ARCH = process.arch === 'x64' ? 'amd64' : process.arch;
const OTHER_ARCH = process.arch === 'arm64' ? 'amd64' : 'arm64';

describe('ctl build end to end', function () {
  this.timeout(120_000);
  // Before the engine's own afterEach, which removes every container.
  afterEach(() => ctl.nothingLeft());
  const engine = useEngine('build-e2e');
  const ctl = builder(engine);

  /** A file's text in an image. */
  const cat = (image: string, ...paths: string[]): string => engine.ok('run', '--rm', image, 'cat', ...paths);
  /** The numbers of the steps plain progress says were CACHED, and those it ran. */
  const cachedSteps = (stderr: string, instruction: RegExp): boolean[] =>
    [...stderr.matchAll(/^#(\d+) (\[.*)$/gm)]
      .filter((m) => instruction.test(m[2]!))
      .map((m) => new RegExp(`^#${m[1]} CACHED$`, 'm').test(stderr));

  describe('Dockerfiles, run', () => {
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

  describe('failures, cancellation and bad input', () => {
    let names: string[];
    before(() => {
      names = ctl.imageNames();
    });
    afterEach(() => assert.deepEqual(ctl.imageNames(), names, 'nothing was tagged'));

    it('a failing RUN: exit 1, the step and its line named, its stderr shown, the steps after it not run', () => {
      const dir = ctl.context('failing', {
        Dockerfile: [
          'FROM busybox',
          'RUN echo fine',
          'RUN echo to-stdout && echo boom-on-stderr >&2 && exit 7',
          'RUN echo never-runs',
          '',
        ].join('\n'),
      });
      for (const progress of [['--progress', 'plain'], ['-q']]) {
        const run = ctl.build(['-t', 'failing', ...progress, dir]);
        assert.equal(run.code, 1, run.stderr);
        assert.equal(run.stdout, '');
        assert.match(
          run.stderr,
          /------\n > \[3\/4\] RUN echo to-stdout && echo boom-on-stderr >&2 && exit 7:\n(.*\n)*.* boom-on-stderr\n/,
        );
        assert.match(run.stderr, /\n *ctl build: \[3\/4\] RUN .* \(Dockerfile:3\): .*exit code:? 7/);
        assert.doesNotMatch(run.stderr, /never-runs\n/);
        assert.equal(run.id, undefined, 'no image id');
      }
    });

    it('Ctrl-C mid-RUN: exit 130, CANCELED, the step’s container and processes gone', async () => {
      const dir = ctl.context('cancel', { Dockerfile: 'FROM busybox\nRUN echo started && exec sleep 600\n' });
      const build = ctl.start(['-t', 'cancelled', '--progress', 'plain', dir]);
      await waitFor('the RUN to start', () => / started\n/.test(build.output()) || undefined, 60_000);
      assert.equal(engine.containers().length, 1, 'the step runs in a container');
      build.child.kill('SIGINT');
      const run = await build.done;
      assert.equal(run.code, 130, run.stderr);
      assert.match(run.stderr, /CANCELED\nctl build: cancelled\n$/);
      // The daemon finishes cancelling after the client has gone.
      await waitFor('the step’s container to go', () => engine.containers().length === 0 || undefined, 30_000);
    });

    /** Builds the Dockerfile (alone in a context); asserts it failed (exit 1) with a message matching each pattern. */
    function refused(name: string, dockerfile: string, patterns: RegExp[], options: { args?: string[] } = {}) {
      const dir = ctl.context(name, { Dockerfile: dockerfile });
      const run = ctl.build(['-q', '-t', `refused-${name}`, ...(options.args ?? []), dir]);
      assert.equal(run.code, 1, `${name}: ${run.stderr}`);
      for (const pattern of patterns) assert.match(run.stderr, pattern, name);
    }

    it('syntax errors name the line', () => {
      refused('unclosed-heredoc', 'FROM busybox\nRUN true\nRUN <<EOF\necho never closed\n', [/Dockerfile:3: heredoc <<EOF is not closed/]);
      refused('bad-flag', 'FROM busybox\n\nCOPY --frm=x a b\n', [/Dockerfile:3: COPY: unknown flag --frm/]);
      refused('no-args', 'FROM busybox\nENV\n', [/Dockerfile:2: ENV requires at least one argument/]);
      refused('bad-from', '# comment\nFROM busybox AS\n', [/Dockerfile:2: FROM .*"busybox AS"/]);
      refused('bad-duration', 'FROM busybox\nHEALTHCHECK --interval=soon CMD true\n', [
        /Dockerfile:2: HEALTHCHECK: --interval=soon is not a duration/,
      ]);
      refused('continued', 'FROM busybox\nRUN echo a \\\n  b \\\n  c\nEXPOSE \\\n  http\n', [/Dockerfile:5: EXPOSE "http"/]);
      refused('before-from', 'LABEL a=b\nFROM busybox\n', [/Dockerfile:1: LABEL before the first FROM/]);
    });

    it('bad input: unknown instructions, missing stages and images, paths out of the context, refused URLs and mounts', () => {
      refused('unknown', 'FROM busybox\nRUN true\nRUNN echo hi\n', [/Dockerfile:3: unknown instruction "RUNN"/]);
      refused('missing-stage', 'FROM busybox\nCOPY --from=nostage /x /y\n', [
        /Dockerfile:2/,
        /--from=nostage: no stage of that name.*image "nostage" is not in the image store/,
      ]);
      refused('missing-target', 'FROM busybox AS one\n', [/target stage "two" could not be found/], { args: ['--target', 'two'] });
      refused('missing-base', 'FROM busybox AS ok\nFROM example.com/nope:1\nRUN true\n', [
        /\(Dockerfile:2\): base image "example.com\/nope:1" is not in the image store/,
      ]);
      refused(
        'wrong-platform',
        'FROM busybox\nRUN true\n',
        [new RegExp(`base image "busybox" is for linux/\\w+, not linux/${OTHER_ARCH}`)],
        {
          args: ['--platform', `linux/${OTHER_ARCH}`],
        },
      );
      const outside = ctl.context('outside', { 'secret.txt': 'outside the context\n' });
      refused('dotdot', 'FROM busybox\nCOPY ../outside/secret.txt /x\n', [
        /\(Dockerfile:2\): COPY failed: forbidden path outside the build context: \.\.\/outside\/secret\.txt/,
      ]);
      refused('absolute', 'FROM busybox\nCOPY /etc/passwd /x\n', [
        /\(Dockerfile:2\): COPY failed: "\/etc\/passwd" not found in the build context/,
      ]);
      // Links that point out of the context, relative and absolute; COPY follows them, so it would leave it.
      const links = ctl.context('links', { up: { symlink: '../outside/secret.txt' }, abs: { symlink: `${outside}/secret.txt` } });
      for (const [link, line] of [
        ['up', 2],
        ['abs', 3],
      ] as const) {
        writeFileSync(join(links, 'Dockerfile'), `FROM busybox\n${line === 3 ? 'RUN true\n' : ''}COPY ${link} /x\n`);
        const run = ctl.build(['-q', '-t', 'refused-link', links]);
        assert.equal(run.code, 1, run.stderr);
        assert.match(run.stderr, new RegExp(`\\(Dockerfile:${line}\\): COPY failed: forbidden path outside the build context: ${link}\n`));
      }
      refused('url', 'FROM busybox\nADD https://example.com/app.tar.gz /app/\n', [
        /Dockerfile:2: ADD https:\/\/example\.com\/app\.tar\.gz: sources from a URL or git are not supported/,
      ]);
      refused('bind-mount', 'FROM busybox\nRUN --mount=type=bind,target=/src true\n', [
        /Dockerfile:2: RUN --mount=type=bind is not supported/,
      ]);
    });

    it('bad input: a context that is not a directory or a tar, a --build-arg without = for an unset variable', () => {
      const dir = ctl.context('not-a-dir', { 'file.txt': 'a file\n' });
      const file = ctl.build(['-q', `${dir}/file.txt`]);
      assert.deepEqual(
        [file.code, file.stderr],
        [1, `ctl build: unable to prepare context: context must be a directory: ${dir}/file.txt\n`],
      );
      const notTar = ctl.build(['-q', '-'], gzipSync('FROM busybox\n'));
      assert.equal(notTar.code, 1);
      assert.match(notTar.stderr, /^ctl build: the gzip-compressed context on stdin is not a tar archive/);
      const bzip2 = ctl.build(['-q', '-'], execFileSync('bzip2', { input: 'FROM busybox\n' }));
      assert.deepEqual(
        [bzip2.code, bzip2.stderr],
        [1, 'ctl build: a bzip2-compressed context on stdin is not supported: give a tar or a gzip tar\n'],
      );
      const arg = ctl.build(['-q', '--build-arg', 'CTL_TEST_SURELY_UNSET', '-'], 'FROM busybox\nARG CTL_TEST_SURELY_UNSET\n');
      assert.equal(arg.code, 125);
      assert.match(arg.stderr, /^ctl build: --build-arg CTL_TEST_SURELY_UNSET: CTL_TEST_SURELY_UNSET is not set/);
    });
  });
});
