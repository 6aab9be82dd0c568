/**
 * `ctl run --restart` end to end, as root on the real kernel, from the busybox image: the
 * daemon's restart supervisor brings exited containers back as their policy says (on-failure:N
 * exactly N times, always even after exit 0), not after `ctl stop`, never after `rm -f`, and
 * after a daemon restart for exits it missed.
 */
import { isAlive, waitFor } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { useEngine } from './engine';
import { daemonPids } from './helpers';

interface Inspected {
  State: { Status: string; ExitCode: number };
  RestartCount: number;
  HostConfig: { RestartPolicy: { Name: string; MaximumRetryCount: number } };
  Labels: Record<string, string>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('ctl run --restart', function () {
  // Generous: restarts are a chain of creates, starts and deletes, slow on a loaded CI machine.
  this.timeout(180_000);
  const engine = useEngine('restart', {
    beforeCleanup: (e) => {
      if (process.env.CTL_TEST_KEEP_LOG) execFileSync('cp', [join(e.instance.state, 'daemon.log'), process.env.CTL_TEST_KEEP_LOG]);
    },
  });
  const { ns, run, ok, containers, ourSnapshots, ourMounts } = engine;
  const inspect = (id: string): Inspected => (JSON.parse(ok('inspect', id)) as Inspected[])[0]!;
  const runs = (id: string, marker = 'run'): number =>
    ok('logs', id)
      .split('\n')
      .filter((l) => l === marker).length;
  const tasksDir = (): string => join(engine.instance.state, 'containerd-lite', 'tasks', ns);

  it('restarts a failing container exactly N times with on-failure:N', async () => {
    ok('run', '-d', '--name', 'fails', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'echo run; exit 3');
    await waitFor('two restarts', () => (inspect('fails').RestartCount === 2 && runs('fails') === 3) || undefined, 45_000, 200);
    // The back-off after the second restart would be 400 ms: wait past it; no third restart.
    await sleep(1500);
    const state = inspect('fails');
    assert.equal(state.RestartCount, 2);
    assert.deepEqual(state.HostConfig.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 2 });
    assert.deepEqual([state.State.Status, state.State.ExitCode], ['stopped', 3]);
    assert.equal(runs('fails'), 3, 'the log shows three runs');
    // A clean exit is not a failure.
    ok('run', '-d', '--name', 'fine', '--restart', 'on-failure', 'busybox', 'sh', '-c', 'echo run');
    await sleep(1000);
    assert.deepEqual([inspect('fine').RestartCount, runs('fine')], [0, 1]);
  });

  it('restarts an always container that exits 0, and leaves it stopped after ctl stop', async () => {
    ok('run', '-d', '--name', 'loop', '--restart', 'always', 'busybox', 'sh', '-c', 'echo run; sleep 0.3');
    await waitFor('restarts', () => inspect('loop').RestartCount >= 2 || undefined, 45_000, 200);
    ok('stop', '-t', '1', 'loop');
    const n = runs('loop');
    await sleep(1500);
    assert.equal(runs('loop'), n, 'no run after ctl stop');
    // A restart the stop overtook leaves a created task that the supervisor deletes (the wait
    // for its init's exit can take a moment on a busy machine).
    await waitFor('stopped', () => inspect('loop').State.Status === 'stopped' || undefined, 10_000, 200);
    assert.equal(inspect('loop').Labels['ctl.stopped-by-user'], 'true');
  });

  it('leaves an unless-stopped container stopped after ctl stop, and ctl start resumes its policy', async () => {
    ok('run', '-d', '--name', 'svc', '--restart', 'unless-stopped', 'busybox', 'sh', '-c', 'echo run; sleep 300');
    ok('stop', '-t', '1', 'svc');
    await sleep(1000);
    assert.equal(inspect('svc').State.Status, 'stopped');
    assert.equal(runs('svc'), 1);
    ok('start', 'svc');
    assert.equal(inspect('svc').State.Status, 'running');
    assert.equal(inspect('svc').Labels['ctl.stopped-by-user'], undefined);
    ok('kill', 'svc');
    await sleep(1000);
    assert.equal(inspect('svc').State.Status, 'stopped', 'ctl kill is a stop by the user too');
  });

  it('refuses a bad policy and --restart with --rm (125)', () => {
    const bogus = run('run', '--restart', 'bogus', 'busybox', 'true');
    assert.equal(bogus.code, 125);
    assert.match(bogus.stderr, /--restart: invalid restart policy "bogus"/);
    const zero = run('run', '--restart', 'on-failure:0', 'busybox', 'true');
    assert.equal(zero.code, 125);
    const rm = run('run', '--rm', '--restart', 'always', 'busybox', 'true');
    assert.equal(rm.code, 125);
    assert.match(rm.stderr, /conflicting options: --restart and --rm/);
    assert.deepEqual(containers(), []);
  });

  it('removes a restarting container for good with rm -f', async () => {
    const before = ourSnapshots();
    ok('run', '-d', '--name', 'flappy', '--restart', 'always', 'busybox', 'sh', '-c', 'echo run; exit 1');
    await waitFor('restarts', () => inspect('flappy').RestartCount >= 3 || undefined, 45_000, 100);
    ok('rm', '-f', 'flappy');
    // Longer than the back-off then pending (at most 1.6 s at the fifth restart).
    await sleep(2500);
    assert.deepEqual(containers(), []);
    assert.deepEqual(ourSnapshots(), before);
    assert.equal(existsSync(join(tasksDir(), 'flappy')), false, 'no task');
    assert.deepEqual(
      ourMounts().filter((m) => m.includes('flappy')),
      [],
      'no mounts',
    );
  });

  it('brings back an always container the user stopped when the daemon restarts, not an unless-stopped one (as docker)', async () => {
    ok('run', '-d', '--name', 'keeper', '--restart', 'always', 'busybox', 'sh', '-c', 'echo run; exec sleep 600');
    ok('run', '-d', '--name', 'resting', '--restart', 'unless-stopped', 'busybox', 'sh', '-c', 'echo run; exec sleep 600');
    await waitFor('both running', () => (runs('keeper') === 1 && runs('resting') === 1) || undefined, 45_000, 100);
    ok('stop', '-t', '1', 'keeper', 'resting');
    assert.equal(inspect('keeper').Labels['ctl.stopped-by-user'], 'true');
    const daemons = daemonPids(engine.instance);
    for (const pid of daemons) process.kill(pid, 'SIGTERM');
    await waitFor('the daemon gone', () => !daemons.some(isAlive) || undefined, 45_000, 100);
    // The next command starts a daemon.
    await waitFor(
      'keeper restarted',
      () => (inspect('keeper').State.Status === 'running' && runs('keeper') === 2) || undefined,
      45_000,
      200,
    );
    assert.equal(inspect('keeper').Labels['ctl.stopped-by-user'], undefined);
    await sleep(1000);
    assert.equal(inspect('resting').State.Status, 'stopped');
    assert.equal(runs('resting'), 1);
  });

  it('restarts an always container whose exit happened while the daemon was down', async () => {
    ok('run', '-d', '--name', 'survivor', '--restart', 'always', 'busybox', 'sh', '-c', 'echo run; sleep 2');
    for (const pid of daemonPids(engine.instance)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    await sleep(3000);
    // The next command starts a daemon; its supervisor finds the exit and restarts.
    await waitFor('a restart after the daemon restart', () => inspect('survivor').RestartCount >= 1 || undefined, 45_000, 200);
    assert.ok(runs('survivor') >= 2);
  });
});
