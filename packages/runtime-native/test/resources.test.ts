/** Cgroup settings from linux.resources, read back from the kernel's files (v1 here). */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { Fixture, cgroupFile, requireRootAndBusybox } from './helpers';

/** major:minor of the block device holding / (a real disk to throttle). */
function rootDisk(): { major: number; minor: number } | undefined {
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[4] !== '/') continue;
    const [major, minor] = f[2].split(':').map(Number);
    if (fs.existsSync(`/sys/dev/block/${major}:${minor}`)) return { major, minor };
  }
  return undefined;
}

describe('cgroup resources (root, real kernel, cgroup v1)', function () {
  let fx: Fixture;
  before(function () {
    requireRootAndBusybox(this);
    if (!fs.existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes')) this.skip();
    fx = new Fixture();
  });
  afterEach(async () => fx && (await fx.cleanupContainers()));
  after(() => fx?.destroy());

  it('fills a shared parent cpuset that a concurrent create made but has not filled yet', async () => {
    // What a second create finds while the first is between its mkdir of the parent and the
    // write of the parent's cpus/mems: an existing cpuset with none. Its container must still run.
    const parent = `ctl-cpuset-it-${process.pid}`;
    const dir = `/sys/fs/cgroup/cpuset/${parent}`;
    fs.mkdirSync(dir);
    try {
      assert.equal(fs.readFileSync(`${dir}/cpuset.cpus`, 'utf8').trim(), '', 'a new cpuset has no cpus');
      const id = fx.id();
      const r = await fx.runtime.runForeground(id, fx.bundle(id, ['true'], { cgroupsPath: `/${parent}/${id}` }));
      assert.equal(r.code, 0, r.stderr);
      assert.notEqual(fs.readFileSync(`${dir}/cpuset.cpus`, 'utf8').trim(), '');
    } finally {
      for (const d of fs.existsSync(dir) ? fs.readdirSync(dir, { withFileTypes: true }) : [])
        if (d.isDirectory()) fs.rmdirSync(`${dir}/${d.name}`);
      fs.rmdirSync(dir);
    }
  });

  it('memory, cpu, cpuset, pids and blkio throttles land in their files', async function () {
    const disk = rootDisk();
    if (!disk) this.skip();
    const id = fx.id();
    const b = fx.bundle(
      id,
      ['sleep', '1000'],
      {
        memory: 96 << 20,
        memoryReservation: 32 << 20,
        memorySwap: 128 << 20,
        cpuShares: 512,
        cpus: 0.5,
        cpusetCpus: '0',
        cpusetMems: '0',
        pidsLimit: 33,
      },
      (s) => {
        s.linux!.resources!.blockIO = {
          throttleReadBpsDevice: [{ ...disk!, rate: 1048576 }],
          throttleWriteIOPSDevice: [{ ...disk!, rate: 100 }],
        };
      },
    );
    await fx.runtime.createWithShim(id, b);
    assert.equal(cgroupFile('memory', id, 'memory.limit_in_bytes'), String(96 << 20));
    assert.equal(cgroupFile('memory', id, 'memory.soft_limit_in_bytes'), String(32 << 20));
    assert.equal(cgroupFile('memory', id, 'memory.memsw.limit_in_bytes'), String(128 << 20));
    assert.equal(cgroupFile('cpu', id, 'cpu.shares'), '512');
    assert.equal(cgroupFile('cpu', id, 'cpu.cfs_period_us'), '100000');
    assert.equal(cgroupFile('cpu', id, 'cpu.cfs_quota_us'), '50000');
    assert.equal(cgroupFile('cpuset', id, 'cpuset.cpus'), '0');
    assert.equal(cgroupFile('pids', id, 'pids.max'), '33');
    assert.equal(cgroupFile('blkio', id, 'blkio.throttle.read_bps_device'), `${disk!.major}:${disk!.minor} 1048576`);
    assert.equal(cgroupFile('blkio', id, 'blkio.throttle.write_iops_device'), `${disk!.major}:${disk!.minor} 100`);
    // the device rules: deny all but the defaults (no reading the host disk from inside)
    assert.match(cgroupFile('devices', id, 'devices.list'), /^c 1:3 rwm$/m);
    assert.doesNotMatch(cgroupFile('devices', id, 'devices.list'), /^a \*:\* rwm$/m);
    await fx.runtime.delete(id, true);
  });

  it('a block IO weight lands in blkio.bfq.weight (or blkio.weight)', async function () {
    // Weights need the BFQ (or CFQ) I/O scheduler; kernels without it offer neither file.
    if (!['blkio.bfq.weight', 'blkio.weight'].some((f) => fs.existsSync(`/sys/fs/cgroup/blkio/${f}`))) this.skip();
    const id = fx.id();
    const b = fx.bundle(id, ['true'], { blkioWeight: 300 });
    await fx.runtime.create(id, b);
    const bfq = `/sys/fs/cgroup/blkio/ctl/${id}/blkio.bfq.weight`;
    assert.equal(cgroupFile('blkio', id, fs.existsSync(bfq) ? 'blkio.bfq.weight' : 'blkio.weight'), '300');
    await fx.runtime.delete(id);
  });

  it('devices outside the allow list cannot be opened', async () => {
    const id = fx.id();
    const b = fx.bundle(id, ['sh', '-c', 'mknod /tmp/disk b 254 0 && head -c1 /tmp/disk; echo rc=$?'], {}, (s) => {
      s.mounts!.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid'] });
    });
    const r = await fx.runtime.runForeground(id, b);
    assert.match(r.stdout, /rc=1/);
    assert.match(r.stderr, /Operation not permitted/);
  });

  it("the init is in the container's cgroup in every hierarchy before it runs, joined by itself or moved by the runtime", async () => {
    // it joins them itself (spawn.c join_cgroups), but not with a user namespace: the runtime moves it
    const map = [{ containerID: 0, hostID: 100000, size: 65536 }];
    const cases = [{ cgroupns: true }, { cgroupns: false }, { cgroupns: false, userns: { uidMappings: map, gidMappings: map } }];
    for (const { cgroupns, userns } of cases) {
      const id = fx.id();
      const b = fx.bundle(id, ['sh', '-c', 'cat /proc/1/cgroup; echo ---; cat /proc/self/cgroup'], { cgroupns, userns });
      const r = await fx.runtime.runForeground(id, b);
      assert.equal(r.code, 0, r.stderr);
      const [init, child] = r.stdout.split('---\n').map((part) =>
        part
          .trim()
          .split('\n')
          // named hierarchies (name=systemd) are not the runtime's
          .filter((l) => !l.split(':')[1]!.startsWith('name=')),
      );
      assert.ok(init!.length > 0, r.stdout);
      for (const line of [...init!, ...child!]) assert.equal(line.split(':')[2], cgroupns ? '/' : `/ctl/${id}`, line);
    }
  });

  it('the container sees its own cgroup (at / with a cgroup namespace) and its limits under /sys/fs/cgroup', async () => {
    for (const cgroupns of [true, false]) {
      const id = fx.id();
      const b = fx.bundle(id, ['sh', '-c', 'grep ":memory:" /proc/self/cgroup; cat /sys/fs/cgroup/memory/memory.limit_in_bytes'], {
        cgroupns,
        memory: 64 << 20,
      });
      const r = await fx.runtime.runForeground(id, b);
      assert.equal(r.code, 0, r.stderr);
      const [line, limit] = r.stdout.trim().split('\n');
      assert.equal(line.split(':')[2], cgroupns ? '/' : `/ctl/${id}`);
      assert.equal(limit, String(64 << 20));
    }
  });
});
