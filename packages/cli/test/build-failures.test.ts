/**
 * `ctl build` when it cannot or must not finish: a failing RUN, a build cancelled with Ctrl-C
 * mid-RUN, syntax errors, and bad input (unknown instructions, missing stages and images, paths
 * out of the context, a context that is neither a directory nor a tar, a --build-arg with no
 * value). Each says what and where (the Dockerfile's line), tags nothing, and leaves nothing:
 * no container, process, snapshot or mount, and the system check finds nothing.
 */
import { waitFor } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { useEngine } from './engine';
import { type ContextFile, builder } from './build-helpers';

const OTHER_ARCH = process.arch === 'arm64' ? 'amd64' : 'arm64';

describe('ctl build: failures, cancellation and bad input', function () {
  this.timeout(120_000);
  // Before the engine's own afterEach, which removes every container.
  afterEach(async () => {
    assert.deepEqual(ctl.imageNames(), names, 'nothing was tagged');
    await ctl.nothingLeft();
  });
  const engine = useEngine('build-failures');
  const ctl = builder(engine);
  let names: string[];

  before(() => {
    names = ctl.imageNames();
  });

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
      assert.match(run.stderr, /------\n > \[3\/4\] RUN echo to-stdout && echo boom-on-stderr >&2 && exit 7:\n(.*\n)*.* boom-on-stderr\n/);
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

  /** Builds the Dockerfile (in a context with these files); asserts it failed with `code` and a message matching each pattern. */
  function refused(
    name: string,
    dockerfile: string,
    patterns: RegExp[],
    options: { files?: Record<string, ContextFile>; args?: string[]; code?: number } = {},
  ) {
    const dir = ctl.context(name, { Dockerfile: dockerfile, ...options.files });
    const run = ctl.build(['-q', '-t', `refused-${name}`, ...(options.args ?? []), dir]);
    assert.equal(run.code, options.code ?? 1, `${name}: ${run.stderr}`);
    for (const pattern of patterns) assert.match(run.stderr, pattern, name);
    return run;
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
    refused('wrong-platform', 'FROM busybox\nRUN true\n', [new RegExp(`base image "busybox" is for linux/\\w+, not linux/${OTHER_ARCH}`)], {
      args: ['--platform', `linux/${OTHER_ARCH}`],
    });
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
    assert.deepEqual([file.code, file.stderr], [1, `ctl build: unable to prepare context: context must be a directory: ${dir}/file.txt\n`]);
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
