/**
 * Faults and isolation (issue 11), end to end as root: two instances on one host keep to their
 * own cgroups; a container whose shim is killed is seen to stop; no output of a foreground run is lost when many run at once.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Engine, useEngine } from './engine';

/** The memory limit of a container's cgroup (v1 memory.limit_in_bytes, v2 memory.max), in bytes. */
function memoryLimit(engine: Engine, id: string): number {
  for (const dir of engine.cgroupDirs(id))
    for (const file of ['memory.limit_in_bytes', 'memory.max'])
      if (existsSync(join(dir, file))) return Number(readFileSync(join(dir, file), 'utf8').trim());
  throw new Error(`no memory cgroup for ${id}`);
}

describe('faults and isolation', function () {
  this.timeout(300_000);
  const engine = useEngine('faults');
  // the same namespace: the cgroup paths were /ctl/<ns>/<id>, so only the instance told them apart
  const other = useEngine('faults-other', { namespace: engine.ns });

  it('gives two instances their own cgroups: same name, own limits, rm -f in one leaves the other running', () => {
    // Both used to put it at /ctl/<ns>/col: one cgroup, the last limit for both, and the rm -f
    // of one killed the other's container.
    engine.ok('run', '-d', '--name', 'col', '-m', '64m', 'busybox', 'sleep', '300');
    other.ok('run', '-d', '--name', 'col', '-m', '128m', 'busybox', 'sleep', '300');
    assert.equal(memoryLimit(engine, 'col'), 64 << 20);
    assert.equal(memoryLimit(other, 'col'), 128 << 20);
    other.ok('rm', '-f', 'col');
    assert.deepEqual(other.cgroupDirs('col').filter(existsSync), [], 'the removed one leaves no cgroup');
    assert.match(engine.ok('ps'), /^col .* Up/m);
    assert.equal(engine.ok('exec', 'col', 'echo', 'alive'), 'alive\n');
  });

  it('notices a SIGKILLed shim: wait returns 255, ps says Exited (255), stop returns, rm leaves nothing', () => {
    // ps said Up, stop -t 1 and wait never returned: nothing but the shim recorded the exit.
    engine.ok('run', '-d', '--name', 'orphan', 'busybox', 'sleep', '300');
    const bundle = join(engine.instance.state, 'containerd-lite', 'tasks', engine.ns, 'orphan');
    process.kill(Number(readFileSync(join(bundle, 'shim.pid'), 'utf8').split(' ')[0]), 'SIGKILL');
    assert.equal(engine.ok('wait', 'orphan'), '255\n');
    assert.match(engine.ok('ps', '-a'), /^orphan .* Exited \(255\)/m);
    engine.ok('stop', '-t', '1', 'orphan');
    engine.ok('rm', 'orphan');
    assert.equal(existsSync(bundle), false, 'the bundle is gone');
    assert.deepEqual(engine.cgroupDirs('orphan').filter(existsSync), [], 'and the cgroup');
  });

  it('delivers every line of output of short foreground runs, 40 of them 10 at a time', async () => {
    // Before the shim took new attach clients ahead of output, about 4 in 100 such runs printed
    // nothing (the CLI was connected, the shim had not accepted it yet when the output came).
    const results = [];
    for (let batch = 0; batch < 4; batch++) {
      results.push(
        ...(await Promise.all(
          Array.from({ length: 10 }, (_, i) => engine.start('run', '--rm', 'busybox', 'sh', '-c', `echo run${batch}.${i}; echo two`)),
        )),
      );
    }
    const lost = results.filter((r, n) => r.code !== 0 || r.stdout !== `run${Math.floor(n / 10)}.${n % 10}\ntwo\n`);
    assert.deepEqual(lost, [], `${lost.length} of ${results.length} runs lost output`);
  });
});
