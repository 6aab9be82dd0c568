/**
 * `ctl build` end to end: real builds on the engine's daemon (containerd-lite's ctl.build.v1
 * Builder), from the busybox image. Skipped while the daemon answers Unimplemented for
 * Builder/Build, so the suite runs as soon as the builder lands.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
});
