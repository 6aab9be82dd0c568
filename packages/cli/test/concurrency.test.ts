/**
 * Concurrency (issue 11), end to end as root: `ctl stop` while a restart policy restarts, `ctl
 * rm -f` while `ctl run -d` starts the same container, and 20 `ctl run --rm` at once. Each ends
 * in a state that says what happened (stopped for good; there and running, or gone), and leaves
 * nothing behind: no container, task, shim, cgroup, mount or snapshot, and `ctl system check` clean.
 */
import { waitFor } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { join } from 'node:path';
import { type Engine, useEngine } from './engine';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Inspected {
  State: { Status: string };
  RestartCount: number;
}

/** Shims of this instance still running (their command line names its state dir). */
function shims(engine: Engine): string[] {
  const out: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (args[0]?.endsWith('ctl-shim') && args.some((a) => a.startsWith(engine.instance.state))) out.push(args.join(' '));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** What the instance still holds of the named containers (all of them removed by now): nothing, each list empty. */
function leftovers(engine: Engine, names: string[]): Record<string, string[]> {
  const tasks = join(engine.instance.state, 'containerd-lite', 'tasks', engine.ns);
  const check = engine.run('system', 'check');
  return {
    containers: engine.containers(),
    snapshots: engine.ourSnapshots(),
    mounts: engine.ourMounts(),
    shims: shims(engine),
    bundles: existsSync(tasks) ? readdirSync(tasks) : [],
    cgroups: names.flatMap((n) => engine.cgroupDirs(n)).filter(existsSync),
    check: check.code === 0 ? [] : [check.stdout + check.stderr],
  };
}

const NOTHING = { containers: [], snapshots: [], mounts: [], shims: [], bundles: [], cgroups: [], check: [] };

/**
 * Asserts that nothing is left of the named containers. An exec's shim may take a moment to go
 * after its container is removed (it gives the process's output up to 2 s to drain): waited for.
 */
async function assertNothingLeft(engine: Engine, names: string[]): Promise<void> {
  await waitFor('nothing left', () => isDeepStrictEqual(leftovers(engine, names), NOTHING) || undefined, 15_000, 250).catch(
    () => undefined,
  );
  assert.deepEqual(leftovers(engine, names), NOTHING);
}

describe('concurrent lifecycle commands', function () {
  this.timeout(600_000);
  const engine = useEngine('concurrency');
  const { ok, start } = engine;
  const inspect = (id: string): Inspected => (JSON.parse(ok('inspect', id)) as Inspected[])[0]!;
  const runs = (id: string): number =>
    ok('logs', id)
      .split('\n')
      .filter((l) => l === 'run').length;

  it('stop while a restart policy restarts: stopped for good, its command never runs after stop returns, nothing left', async () => {
    const names: string[] = [];
    for (let round = 0; round < 3; round++) {
      const batch = Array.from({ length: 8 }, (_, i) => `flap${round}-${i}`);
      names.push(...batch);
      // Commands that exit at once: the supervisor is always deleting, creating or starting a
      // task, or backing off (100 ms, doubling). Half on-failure, half always.
      const started = await Promise.all(
        batch.map((n, i) =>
          start('run', '-d', '--name', n, '--restart', i % 2 ? 'always' : 'on-failure', 'busybox', 'sh', '-c', `echo run; exit ${i % 2}`),
        ),
      );
      for (const r of started) assert.equal(r.code, 0, r.stderr);
      // Each stopped at another moment of its restarts.
      const stopped = await Promise.all(
        batch.map(async (n, i) => {
          await sleep(100 + i * 90 + round * 30);
          const r = await start('stop', '-t', '1', n);
          return { n, r, runs: runs(n) };
        }),
      );
      for (const { n, r } of stopped) assert.equal(r.code, 0, `stop ${n}: ${r.stderr}`);
      // Longer than any back-off then pending.
      await sleep(2500);
      for (const { n, runs: before } of stopped) {
        await waitFor(`${n} stopped`, () => inspect(n).State.Status === 'stopped' || undefined, 20_000, 100);
        assert.equal(runs(n), before, `${n} ran again after ctl stop returned`);
      }
    }
    ok('rm', ...names);
    await assertNothingLeft(engine, names);
  });

  it('rm -f while run -d starts the same container: there and running, or gone; never half', async () => {
    const names: string[] = [];
    for (let round = 0; round < 4; round++) {
      const batch = Array.from({ length: 8 }, (_, i) => `race${round}-${i}`);
      names.push(...batch);
      const results = await Promise.all(
        batch.map(async (n, i) => {
          const run = start('run', '-d', '--name', n, 'busybox', 'sleep', '300');
          // From before the container exists to after its task runs.
          await sleep(i * 60 + round * 20);
          const rm = await start('rm', '-f', n);
          return { n, run: await run, rm };
        }),
      );
      const ps = engine.run('ps', '-a', '--format', '{{.Names}} {{.Status}}').stdout;
      for (const { n, run, rm } of results) {
        const line = ps.split('\n').find((l) => l.split(' ')[0] === n);
        if (line === undefined) continue; // rm won (or run failed because of it): gone
        // Still there: the rm came before the container existed, so the run made it whole.
        assert.notEqual(rm.code, 0, `${n}: rm -f succeeded yet the container is there: ${line}`);
        assert.equal(run.code, 0, `${n}: run failed (${run.stderr.trim()}) yet left the container: ${line}`);
        assert.match(line, / Up\b/, `${n} is there but not running: ${line}; rm -f: ${rm.stderr.trim()}`);
        assert.equal(ok('exec', n, 'echo', 'alive'), 'alive\n');
      }
      for (const id of engine.containers()) ok('rm', '-f', id);
    }
    await assertNothingLeft(engine, names);
  });

  it('20 run --rm at once: each prints its output, all are removed, nothing left', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => start('run', '--rm', '--name', `par${i}`, 'busybox', 'sh', '-c', `echo out${i}; echo two`)),
    );
    const wrong = results.filter((r, i) => r.code !== 0 || r.stdout !== `out${i}\ntwo\n`);
    assert.deepEqual(wrong, [], `${wrong.length} of 20 runs lost their output or failed`);
    await assertNothingLeft(
      engine,
      results.map((_, i) => `par${i}`),
    );
  });
});
