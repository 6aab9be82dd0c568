/**
 * Faults and isolation (issue 11), end to end as root: two instances on one host keep to their
 * own cgroups.
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
});
