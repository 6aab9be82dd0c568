import { strict as assert } from 'node:assert';
import { DockerfileError, type Instruction } from './dockerfile/model';
import { durationNanos, envMap, exposedPorts, healthConfig, runCommand, setEnv, withHistory, workdirPath } from './config';
import { cacheKey } from './cache';

type Run = Extract<Instruction, { kind: 'RUN' }>;
const run = (command: Run['command'], heredocs: Run['heredocs'] = []): Run => ({
  kind: 'RUN',
  line: 1,
  original: 'RUN …',
  command,
  heredocs,
  mounts: [],
});

describe('build config', () => {
  it('sets ENV in place and reads it back', () => {
    const env = setEnv(setEnv(['PATH=/bin', 'A=1'], 'A', '2'), 'B', 'x=y');
    assert.deepEqual(env, ['PATH=/bin', 'A=2', 'B=x=y']);
    assert.deepEqual(
      [...envMap(env)],
      [
        ['PATH', '/bin'],
        ['A', '2'],
        ['B', 'x=y'],
      ],
    );
  });

  it("reads EXPOSE's ports and ranges, HEALTHCHECK's durations, WORKDIR's relative paths", () => {
    assert.deepEqual(exposedPorts(['80', '53/UDP', '8000-8002/tcp'], 1), ['80/tcp', '53/udp', '8000/tcp', '8001/tcp', '8002/tcp']);
    assert.throws(
      () => exposedPorts(['http'], 4),
      (e: unknown) => e instanceof DockerfileError && /Dockerfile:4/.test(e.message),
    );
    assert.equal(durationNanos('1m30s', '--interval', 1), 90e9);
    assert.equal(durationNanos('500ms', '--timeout', 1), 5e8);
    assert.throws(() => durationNanos('30', '--interval', 2), DockerfileError);
    assert.deepEqual(healthConfig({ test: ['CMD', 'true'], interval: '5s', retries: '3' }, 1), {
      Test: ['CMD', 'true'],
      Interval: 5e9,
      Retries: 3,
    });
    assert.deepEqual(healthConfig({ test: ['NONE'] }, 1), { Test: ['NONE'] });
    assert.equal(workdirPath('/app', 'src/../lib'), '/app/lib');
    assert.equal(workdirPath(undefined, 'x'), '/x');
    assert.equal(workdirPath('/app', '/abs'), '/abs');
  });

  it("writes BuildKit's history entries: a layer's ends in # buildkit, a metadata step's is empty_layer", () => {
    const base = {
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers' as const, diff_ids: [] },
      history: [{ created_by: 'base' }],
    };
    const withLayer = withHistory(base, 'RUN /bin/sh -c make', 't1', true);
    const metadata = withHistory(withLayer, 'ENV A=b', 't2', false);
    assert.deepEqual(metadata.history, [
      { created_by: 'base' },
      { created: 't1', created_by: 'RUN /bin/sh -c make # buildkit', comment: 'buildkit.dockerfile.v0' },
      { created: 't2', created_by: 'ENV A=b', comment: 'buildkit.dockerfile.v0', empty_layer: true },
    ]);
    assert.equal(metadata.created, 't2');
    assert.equal(base.history.length, 1, 'the given config is left as it was');
  });

  it('makes RUN commands: shell form with the SHELL, exec form as is, heredocs as BuildKit runs them', () => {
    const shell = ['/bin/sh', '-c'];
    assert.deepEqual(runCommand(run({ form: 'shell', text: 'make all' }), shell).args, ['/bin/sh', '-c', 'make all']);
    assert.deepEqual(runCommand(run({ form: 'exec', args: ['make', 'all'] }), ['/bin/bash', '-c']).args, ['make', 'all']);
    const script = { name: 'EOF', content: 'echo one\necho two\n', expand: true, chomp: false };
    assert.deepEqual(runCommand(run({ form: 'shell', text: '<<EOF' }, [script]), shell), {
      args: ['/bin/sh', '-c', 'echo one\necho two\n'],
      scripts: [],
    });
    const python = { name: 'PY', content: '#!/usr/bin/python3\nprint(1)\n', expand: false, chomp: false };
    assert.deepEqual(runCommand(run({ form: 'shell', text: '<<PY' }, [python]), shell), {
      args: ['/dev/pipes/PY'],
      scripts: [{ name: 'PY', path: '/dev/pipes/PY', content: python.content }],
    });
    // a heredoc fed to a command: the shell gets the whole text with the body
    const fed = runCommand(run({ form: 'shell', text: 'cat <<EOF > /f' }, [script]), shell).args;
    assert.deepEqual(fed, ['/bin/sh', '-c', 'cat <<EOF > /f\necho one\necho two\nEOF']);
  });

  it('keys steps by their parts, never by a join that two part lists could share', () => {
    assert.notEqual(cacheKey(['a b', 'c']), cacheKey(['a', 'b c']));
    assert.equal(cacheKey(['RUN', ['x']]), cacheKey(['RUN', ['x']]));
    assert.match(cacheKey([]), /^[0-9a-f]{64}$/);
  });
});
