/**
 * linux.resources is applied or refused, never dropped: a limit the host cannot apply fails create
 * with the field named (real kernel, root; the cases follow what this host has).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { ErrorKind } from '@ctl/proto/errors';
import { buildSpec } from '../src';
import type { RuntimeError } from '../src';
import { type Fixture, assertNoLeftovers, cgroupDirs, cgroupFile, useFixture } from './helpers';

const hasController = (name: string): boolean =>
  fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => / - cgroup /.test(l) && l.split(' - ')[1].split(' ')[2].split(',').includes(name));
const cgroupV1 = fs.existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes');

describe('linux.resources: applied or refused (root, real kernel)', function () {
  let fx!: Fixture;
  useFixture((f) => (fx = f));

  /** config.json of a container running cmd with these linux.resources (raw: fields the engine never writes). */
  function config(id: string, resources: Record<string, unknown>, cmd = ['true']): string {
    const s = buildSpec({ Env: ['PATH=/bin'] }, { id, cmd, rootfs: fx.rootfs });
    Object.assign(s.linux!.resources!, resources);
    return JSON.stringify(s);
  }

  /** [what, linux.resources, the error, the kind, skip when the host can apply it] */
  const refused: [string, Record<string, unknown>, RegExp, ErrorKind, () => boolean][] = [
    [
      'network.classID',
      { network: { classID: 1048577 } },
      /network\.classID: this host has no net_cls cgroup controller/,
      ErrorKind.FailedPrecondition,
      () => hasController('net_cls'),
    ],
    [
      'network.priorities',
      { network: { priorities: [{ name: 'lo', priority: 2 }] } },
      /network\.priorities: this host has no net_prio cgroup controller/,
      ErrorKind.FailedPrecondition,
      () => hasController('net_prio'),
    ],
    [
      'rdma',
      { rdma: { mlx5_1: { hcaHandles: 3 } } },
      /rdma: this host has no rdma cgroup controller/,
      ErrorKind.FailedPrecondition,
      () => hasController('rdma'),
    ],
    [
      'blockIO.leafWeight without CFQ',
      { blockIO: { leafWeight: 500 } },
      /blockIO\.leafWeight: .*No such file/,
      ErrorKind.FailedPrecondition,
      () => fs.existsSync('/sys/fs/cgroup/blkio/blkio.leaf_weight'),
    ],
    [
      'memory.swappiness out of range',
      { memory: { swappiness: 101 } },
      /memory\.swappiness: 101 is outside 0-100/,
      ErrorKind.InvalidArgument,
      () => false,
    ],
  ];
  for (const [what, resources, message, kind, canApply] of refused) {
    it(`refuses ${what} where it cannot be applied`, async function () {
      if (!cgroupV1 || canApply()) this.skip();
      const id = fx.id();
      await assert.rejects(fx.runtime.create(id, fx.rawBundle(id, config(id, resources))), (err: RuntimeError) => {
        assert.match(err.message, message);
        assert.equal(err.kind, kind);
        return true;
      });
      assertNoLeftovers(id, fx);
    });
  }

  it('applies kernelTCP, useHierarchy, cpu burst and idle on v1 (they were ignored)', async function () {
    if (!cgroupV1 || !fs.existsSync('/sys/fs/cgroup/cpu/cpu.cfs_burst_us') || !fs.existsSync('/sys/fs/cgroup/cpu/cpu.idle')) this.skip();
    const id = fx.id();
    const text = config(id, {
      memory: { limit: 64 << 20, kernelTCP: 16 << 20, useHierarchy: true },
      cpu: { quota: 50000, period: 100000, burst: 20000, idle: 1 },
    });
    await fx.runtime.create(id, fx.rawBundle(id, text));
    assert.equal(cgroupFile('memory', id, 'memory.kmem.tcp.limit_in_bytes'), String(16 << 20));
    assert.equal(cgroupFile('memory', id, 'memory.use_hierarchy'), '1');
    assert.equal(cgroupFile('cpu', id, 'cpu.cfs_burst_us'), '20000');
    assert.equal(cgroupFile('cpu', id, 'cpu.idle'), '1');
    await fx.runtime.delete(id, true);
  });

  it('puts hugepage limits in the v2 hierarchy of a hybrid host without a v1 hugetlb', async function () {
    const unified = '/sys/fs/cgroup/unified';
    if (!cgroupV1 || hasController('hugetlb') || !fs.existsSync(unified)) this.skip();
    if (!fs.readFileSync(`${unified}/cgroup.controllers`, 'utf8').split(/\s/).includes('hugetlb')) this.skip();
    const id = fx.id();
    await fx.runtime.create(id, fx.rawBundle(id, config(id, { hugepageLimits: [{ pageSize: '2MB', limit: 4 << 21 }] })));
    const dir = cgroupDirs(id).find((d) => d.startsWith(unified))!;
    assert.equal(fs.readFileSync(`${dir}/hugetlb.2MB.max`, 'utf8').trim(), String(4 << 21));
    await fx.runtime.delete(id, true);
  });
});
