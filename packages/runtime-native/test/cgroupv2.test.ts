/**
 * The cgroup v2 code path. This host is hybrid (v1 controllers + a v2 hierarchy offering only
 * hugetlb), so the runtime is run in a private mount namespace where /sys/fs/cgroup is the v2
 * hierarchy: it must detect v2 and manage the container there (create, freeze, list, kill,
 * remove). Controllers bound to v1 are not available in v2 here, so limits are not tested.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RUNTIME_BINARY, Runtime, SHIM_BINARY } from '../src';
import { Fixture, processAlive, requireRootAndBusybox } from './helpers';

const V2_ROOT = '/sys/fs/cgroup/unified'; // the same hierarchy, as seen from the host

describe('runtime on a cgroup v2 layout (root, real kernel)', function () {
  let fx: Fixture;
  let rt: Runtime;
  before(function () {
    requireRootAndBusybox(this);
    if (!fs.existsSync(path.join(V2_ROOT, 'cgroup.controllers'))) this.skip();
    fx = new Fixture();
    const wrapper = path.join(fx.dir, 'ctl-runtime-v2');
    fs.writeFileSync(
      wrapper,
      `#!/bin/sh\nexec unshare -m sh -c 'mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec "$0" "$@"' ${RUNTIME_BINARY} "$@"\n`,
      { mode: 0o755 },
    );
    rt = new Runtime({ root: fx.runtime.root, runtimeBinary: wrapper, shimBinary: SHIM_BINARY });
  });
  afterEach(async () => {
    if (!fx) return;
    for (const id of fs.existsSync(fx.runtime.root) ? fs.readdirSync(fx.runtime.root) : [])
      await rt.delete(id, true).catch(() => undefined);
    await fx.cleanupContainers();
  });
  after(() => fx?.destroy());

  it('detects v2 and runs the container in <v2 root>/ctl/<id>; pause, ps, kill and delete work there', async () => {
    const id = fx.id();
    const b = fx.bundle(id, ['sleep', '1000']);
    const { pid } = await rt.createWithShim(id, b);
    await rt.start(id);
    const dir = path.join(V2_ROOT, 'ctl', id);
    assert.ok(fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').includes(String(pid)));
    assert.match(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'), new RegExp(`^0::/ctl/${id}$`, 'm'));
    assert.deepEqual(await rt.ps(id), [pid]);
    await rt.pause(id);
    assert.match(fs.readFileSync(path.join(dir, 'cgroup.events'), 'utf8'), /frozen 1/);
    assert.equal((await rt.state(id)).status, 'paused');
    await rt.resume(id);
    assert.match(fs.readFileSync(path.join(dir, 'cgroup.events'), 'utf8'), /frozen 0/);
    await rt.kill(id, 'KILL', true);
    const exit = await rt.waitExit(b);
    assert.equal(exit.exitStatus, 137);
    await rt.delete(id);
    assert.equal(fs.existsSync(dir), false);
    assert.equal(processAlive(pid), false);
  });

  it('names the field when a v2 controller is not available', async function () {
    const avail = fs.readFileSync(path.join(V2_ROOT, 'cgroup.controllers'), 'utf8');
    if (/\bpids\b/.test(avail)) this.skip(); // pids is offered in v2 here: nothing missing to report
    const id = fx.id();
    const b = fx.bundle(id, ['true'], { pidsLimit: 5 });
    await assert.rejects(rt.create(id, b), /linux\.resources\.pids: the pids controller is not available in the cgroup v2 hierarchy/);
    assert.equal(fs.existsSync(path.join(V2_ROOT, 'ctl', id)), false);
  });
});
