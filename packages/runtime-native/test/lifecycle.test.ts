/** Lifecycle through the shim: create/start/exec/pause/resume/kill/delete, OOM, pids, tty. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ErrorKind } from '@ctl/proto/errors';
import { readLog } from '../src';
import type { RuntimeError } from '../src';
import { type Fixture, cgroupDirs, cgroupFile, processAlive, until, useFixture } from './helpers';

function shimPidOf(initPid: number): number {
  const stat = fs.readFileSync(`/proc/${initPid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

function rssKiB(pid: number): number {
  const m = /^Rss:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
  return Number(m?.[1]);
}

describe('runtime lifecycle with the shim (root, real kernel)', function () {
  let fx!: Fixture;
  useFixture((f) => (fx = f));

  it('create waits, start runs, the shim logs output as JSON lines and records the exit', async () => {
    const id = fx.id();
    const b = fx.bundle(id, ['sh', '-c', 'echo out-line; echo err-line >&2; exit 3']);
    const { pid } = await fx.runtime.createWithShim(id, b);
    assert.ok(pid > 1);
    const st = await fx.runtime.state(id);
    assert.deepEqual([st.status, st.pid, st.id, st.bundle, st.ociVersion], ['created', pid, id, b, '1.1.0']);
    assert.equal(readLog(path.join(b, 'container.log')).length, 0, 'nothing runs before start');
    await assert.rejects(fx.runtime.resume(id), /container not paused/);
    await fx.runtime.start(id);
    await assert.rejects(fx.runtime.start(id), /cannot start an? (already started|stopped)/);
    const exit = await fx.runtime.waitExit(b);
    assert.deepEqual([exit.exitStatus, exit.oomKilled, exit.pid], [3, false, pid]);
    assert.equal((await fx.runtime.state(id)).status, 'stopped');
    assert.equal((await fx.runtime.state(id)).pid, 0);
    // the state machine refuses what a stopped container cannot do
    await assert.rejects(
      fx.runtime.kill(id, 'KILL'),
      (e: RuntimeError) => /container not running/.test(e.message) && e.kind === ErrorKind.FailedPrecondition,
    );
    await assert.rejects(fx.runtime.pause(id), /container not running/);
    const ex = await fx.runtime.exec(id, { args: ['true'], cwd: '/', user: { uid: 0, gid: 0 } });
    assert.match(ex.stderr, /cannot exec in a stopped container/);
    const log = readLog(path.join(b, 'container.log'));
    assert.deepEqual(log.map((l) => [l.stream, l.log]).sort(), [
      ['stderr', 'err-line\n'],
      ['stdout', 'out-line\n'],
    ]);
    assert.ok(log.every((l) => !Number.isNaN(Date.parse(l.time))));
    await fx.runtime.delete(id);
  });

  it('exec runs in the same namespaces and cgroup; ps lists both; the shim stays under 1 MiB', async () => {
    const id = fx.id();
    const b = fx.bundle(id, ['sleep', '1000'], { hostname: 'exec-host' });
    const { pid } = await fx.runtime.createWithShim(id, b);
    await fx.runtime.start(id);
    const r = await fx.runtime.exec(id, {
      args: ['sh', '-c', 'hostname; cat /proc/1/cmdline; echo; exit 7'],
      cwd: '/',
      user: { uid: 0, gid: 0 },
      env: ['PATH=/bin'],
    });
    assert.equal(r.code, 7, r.stderr);
    assert.deepEqual(r.stdout.split('\n').slice(0, 2), ['exec-host', 'sleep\u00001000\u0000']);
    assert.deepEqual(await fx.runtime.ps(id), [pid]);
    assert.deepEqual(
      (await fx.runtime.list()).map((c) => [c.id, c.status, c.pid]),
      [[id, 'running', pid]],
    );
    const shim = shimPidOf(pid);
    assert.match(fs.readFileSync(`/proc/${shim}/cmdline`, 'utf8'), /ctl-shim/);
    const rss = rssKiB(shim);
    console.log(`      shim pid ${shim}: Rss ${rss} kB`);
    assert.ok(rss <= 1024, `shim resident memory ${rss} kB`);
    const stats = await fx.runtime.stats(id);
    const data = stats.data as { memory: { usage: { usage: number } }; pids: { current: number } };
    assert.equal(stats.type, 'stats');
    assert.ok(data.memory.usage.usage > 0);
    assert.equal(data.pids.current, 1);
    await fx.runtime.kill(id, 'KILL');
    const exit = await fx.runtime.waitExit(b);
    assert.equal(exit.exitStatus, 137);
    assert.equal(exit.signal, 9);
    await fx.runtime.delete(id);
    assert.equal(processAlive(pid), false);
    assert.equal(processAlive(shim), false);
  });

  it('pause freezes and resume thaws', async () => {
    const id = fx.id();
    const b = fx.bundle(id, ['sleep', '1000']);
    const { pid } = await fx.runtime.createWithShim(id, b);
    await fx.runtime.start(id);
    await fx.runtime.pause(id);
    assert.equal((await fx.runtime.state(id)).status, 'paused');
    assert.equal(cgroupFile('freezer', id, 'freezer.state'), 'FROZEN');
    const refused = await fx.runtime.exec(id, { args: ['true'], cwd: '/', user: { uid: 0, gid: 0 } });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /paused/);
    await fx.runtime.resume(id);
    assert.equal(cgroupFile('freezer', id, 'freezer.state'), 'THAWED');
    assert.equal((await fx.runtime.state(id)).status, 'running');
    const r = await fx.runtime.exec(id, { args: ['true'], cwd: '/', user: { uid: 0, gid: 0 } });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(processAlive(pid));
  });

  it('kill --all and delete --force leave no process, mount or cgroup', async () => {
    const id = fx.id();
    const b = fx.bundle(id, ['sh', '-c', 'sleep 1000 & sleep 1000 & sleep 1000']);
    const { pid } = await fx.runtime.createWithShim(id, b);
    await fx.runtime.start(id);
    await until(() => cgroupFile('pids', id, 'cgroup.procs').split('\n').length >= 3);
    const pids = await fx.runtime.ps(id);
    assert.ok(pids.length >= 3 && pids.includes(pid), `ps: ${pids.join(',')}`);
    await assert.rejects(fx.runtime.delete(id), /still running/);
    // pid 1 of a pid namespace ignores signals it has no handler for, except SIGKILL
    await fx.runtime.kill(id, 'KILL', true);
    const exit = await fx.runtime.waitExit(b);
    assert.equal(exit.exitStatus, 137);
    await fx.runtime.delete(id, true);
    for (const p of [pid, ...pids]) assert.equal(processAlive(p), false, `process ${p} survived`);
    for (const d of cgroupDirs(id)) assert.equal(fs.existsSync(d), false, d);
    assert.equal(fs.existsSync(fx.stateDir(id)), false);
    await assert.rejects(fx.runtime.state(id), /does not exist/);
  });

  it('delete of a created container kills its waiting init', async () => {
    const id = fx.id();
    const b = fx.bundle(id, ['true']);
    const { pid } = await fx.runtime.createWithShim(id, b);
    assert.ok(processAlive(pid));
    await fx.runtime.delete(id);
    assert.equal(processAlive(pid), false);
    const exit = await fx.runtime.waitExit(b);
    assert.equal(exit.exitStatus, 137);
  });

  it('a memory limit OOM-kills a hog: exit 137 with the OOM flag', async () => {
    const id = fx.id();
    const b = fx.bundle(id, ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=128M', 'count=1'], { memory: 32 << 20, memorySwap: 32 << 20 });
    assert.equal(
      cgroupDirs(id).some((d) => fs.existsSync(d)),
      false,
    );
    await fx.runtime.createWithShim(id, b);
    assert.equal(cgroupFile('memory', id, 'memory.limit_in_bytes'), String(32 << 20));
    await fx.runtime.start(id);
    const exit = await fx.runtime.waitExit(b);
    assert.equal(exit.exitStatus, 137);
    assert.equal(exit.oomKilled, true);
  });

  it('a process that exits normally under a memory limit is not flagged as OOM', async () => {
    const id = fx.id();
    const b = fx.bundle(id, ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=1M', 'count=1'], { memory: 32 << 20 });
    const exit = await fx.runtime.runToExit(id, b);
    assert.deepEqual([exit.exitStatus, exit.oomKilled], [0, false]);
  });

  it('a pids limit contains a fork bomb', async () => {
    const id = fx.id();
    const b = fx.bundle(id, ['sh', '-c', 'for i in $(seq 1 64); do sleep 1000 & done; sleep 1000'], { pidsLimit: 10 });
    await fx.runtime.createWithShim(id, b);
    await fx.runtime.start(id);
    // the kernel counts refused forks in pids.events; wait for the bomb to hit the wall
    await until(() => Number(/max (\d+)/.exec(cgroupFile('pids', id, 'pids.events'))?.[1]) > 0);
    assert.equal(cgroupFile('pids', id, 'pids.max'), '10');
    assert.ok(Number(cgroupFile('pids', id, 'pids.current')) <= 10);
    assert.ok(Number(cgroupFile('pids', id, 'pids.peak')) <= 10);
  });

  it('gives the process a terminal through the console socket', async () => {
    const id = fx.id();
    const b = fx.bundle(id, ['sh', '-c', 'tty; test -t 0 && echo stdin-is-tty'], { tty: true });
    await fx.runtime.createWithShim(id, b, { tty: true });
    await fx.runtime.start(id);
    const exit = await fx.runtime.waitExit(b);
    assert.equal(exit.exitStatus, 0);
    const text = readLog(path.join(b, 'container.log'))
      .map((l) => l.log)
      .join('');
    assert.match(text, /\/dev\/pts\/0\r?\n/);
    assert.match(text, /stdin-is-tty/);
  });

  it('the shim survives the death of its starter and reports exit codes', async () => {
    const id = fx.id();
    const b = fx.bundle(id, ['sh', '-c', 'sleep 1000']);
    const { pid } = await fx.runtime.createWithShim(id, b);
    const shim = shimPidOf(pid);
    // the starter (our child) has exited; the shim was re-parented and is a session leader
    const stat = fs
      .readFileSync(`/proc/${shim}/stat`, 'utf8')
      .slice(fs.readFileSync(`/proc/${shim}/stat`, 'utf8').lastIndexOf(')') + 2)
      .split(' ');
    assert.notEqual(Number(stat[1]), process.pid);
    assert.equal(Number(stat[3]), Number(stat[2]), 'session id is not its own process group');
    await fx.runtime.start(id);
    process.kill(pid, 'SIGTERM'); // pid 1 of the namespace ignores SIGTERM: it keeps running
    await fx.runtime.kill(id, 'KILL');
    const exit = await fx.runtime.waitExit(b);
    assert.equal(exit.exitStatus, 137);
  });

  it('runs hooks: createRuntime and poststop on the host with the state on stdin, startContainer inside', async () => {
    const id = fx.id();
    const out = path.join(fx.dir, `hooks-${id}`);
    fs.mkdirSync(out);
    const b = fx.bundle(id, ['cat', '/dev/shm/started'], {}, (s) => {
      s.hooks = {
        createRuntime: [{ path: '/bin/sh', args: ['sh', '-c', `cat > ${out}/create.json`] }],
        startContainer: [{ path: '/bin/sh', args: ['sh', '-c', 'echo started-inside > /dev/shm/started'] }],
        poststop: [{ path: '/bin/sh', args: ['sh', '-c', `cat > ${out}/poststop.json`] }],
      };
    });
    const { pid } = await fx.runtime.createWithShim(id, b);
    const created = JSON.parse(fs.readFileSync(path.join(out, 'create.json'), 'utf8')) as {
      id: string;
      pid: number;
      status: string;
      bundle: string;
    };
    assert.deepEqual([created.id, created.pid, created.status, created.bundle], [id, pid, 'created', b]);
    await fx.runtime.start(id);
    await fx.runtime.waitExit(b);
    assert.deepEqual(
      readLog(path.join(b, 'container.log')).map((l) => l.log),
      ['started-inside\n'],
    );
    assert.equal(fs.existsSync(path.join(out, 'poststop.json')), false);
    await fx.runtime.delete(id);
    assert.equal((JSON.parse(fs.readFileSync(path.join(out, 'poststop.json'), 'utf8')) as { id: string }).id, id);
  });

  it('start returns once the process runs, not while the init still prepares it', async () => {
    // a signal sent right after start must find the program: the init, pid 1 of its namespace,
    // drops signals it has no handler for. A slow startContainer hook widens that window.
    const id = fx.id();
    const b = fx.bundle(id, ['sleep', '1000'], {}, (s) => {
      s.hooks = { startContainer: [{ path: '/bin/sleep', args: ['sleep', '0.5'] }] };
    });
    const { pid } = await fx.runtime.createWithShim(id, b);
    await fx.runtime.start(id);
    assert.equal(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'), 'sleep\u00001000\u0000');
  });

  it('a failing createRuntime hook fails create and leaves nothing behind', async () => {
    const id = fx.id();
    const b = fx.bundle(id, ['true'], {}, (s) => {
      s.hooks = { createRuntime: [{ path: '/bin/false' }] };
    });
    await assert.rejects(fx.runtime.createWithShim(id, b), /hooks\.createRuntime\[0\] \(\/bin\/false\): exited with status 1/);
    for (const d of cgroupDirs(id)) assert.equal(fs.existsSync(d), false, d);
    assert.equal(fs.existsSync(fx.stateDir(id)), false);
  });

  it('update changes the resources of a running container', async () => {
    const id = fx.id();
    const b = fx.bundle(id, ['sleep', '1000'], { pidsLimit: 50, memory: 64 << 20 });
    await fx.runtime.createWithShim(id, b);
    await fx.runtime.start(id);
    assert.equal(cgroupFile('pids', id, 'pids.max'), '50');
    const r = await fx.runtime.command(
      ['update', '--resources', '-', id],
      JSON.stringify({ pids: { limit: 7 }, memory: { limit: 48 << 20 } }),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(cgroupFile('pids', id, 'pids.max'), '7');
    assert.equal(cgroupFile('memory', id, 'memory.limit_in_bytes'), String(48 << 20));
  });

  it('the shim forwards signals to the init', async () => {
    const id = fx.id();
    const b = fx.bundle(id, ['sh', '-c', 'trap "echo got-term; exit 5" TERM; echo ready; while true; do sleep 0.1; done']);
    const { pid } = await fx.runtime.createWithShim(id, b);
    await fx.runtime.start(id);
    await until(() => readLog(path.join(b, 'container.log')).some((l) => l.log === 'ready\n'));
    process.kill(shimPidOf(pid), 'SIGTERM');
    const exit = await fx.runtime.waitExit(b);
    assert.equal(exit.exitStatus, 5);
    assert.ok(readLog(path.join(b, 'container.log')).some((l) => l.log === 'got-term\n'));
  });

  it('joins the network namespace of another container by path', async () => {
    const a = fx.id();
    const ba = fx.bundle(a, ['sleep', '1000']);
    const { pid } = await fx.runtime.createWithShim(a, ba);
    await fx.runtime.start(a);
    const nsA = fs.readlinkSync(`/proc/${pid}/ns/net`);
    assert.notEqual(nsA, fs.readlinkSync('/proc/self/ns/net'));
    const b = fx.id();
    const bb = fx.bundle(b, ['readlink', '/proc/self/ns/net'], { network: { path: `/proc/${pid}/ns/net` } });
    const r = await fx.runtime.runForeground(b, bb);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), nsA);
  });

  it('attach: a client gets the output framed by stream and feeds stdin', async () => {
    const id = fx.id();
    const b = fx.bundle(id, ['sh', '-c', 'echo ready; read line; echo got:$line; echo oops >&2']);
    await fx.runtime.createWithShim(id, b, { stdin: true });
    const att = await fx.runtime.attach(b);
    const out: string[] = [];
    const err: string[] = [];
    att.on('stdout', (c: Buffer) => out.push(c.toString()));
    att.on('stderr', (c: Buffer) => err.push(c.toString()));
    await fx.runtime.start(id);
    await until(() => out.join('').includes('ready\n'));
    att.write('hello\n');
    const exit = await fx.runtime.waitExit(b);
    // The exit is recorded as soon as the process ends; its last output may still be on its
    // way through the attach socket.
    await until(() => out.join('').includes('got:hello\n') && err.join('').includes('oops\n'));
    att.close();
    assert.equal(exit.exitStatus, 0);
    assert.equal(out.join(''), 'ready\ngot:hello\n');
    assert.equal(err.join(''), 'oops\n');
    assert.deepEqual(
      readLog(path.join(b, 'container.log'))
        .map((l) => l.log)
        .sort(),
      ['got:hello\n', 'oops\n', 'ready\n'],
    );
  });

  it('a user-namespaced container waits for start and takes an exec in its user namespace', async () => {
    const map = [{ containerID: 0, hostID: 200000, size: 65536 }];
    const id = fx.id();
    const b = fx.bundle(id, ['sleep', '1000'], { userns: { uidMappings: map, gidMappings: map } });
    const { pid } = await fx.runtime.createWithShim(id, b);
    await fx.runtime.start(id);
    assert.match(fs.readFileSync(`/proc/${pid}/status`, 'utf8'), /^Uid:\s+200000\s+200000/m);
    const r = await fx.runtime.exec(id, {
      args: ['sh', '-c', 'id -u; cat /proc/self/uid_map'],
      cwd: '/',
      user: { uid: 0, gid: 0 },
      env: ['PATH=/bin'],
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.split('\n')[0], '0');
    assert.match(r.stdout, /^\s+0\s+200000\s+65536$/m);
  });

  it('exec through a shim of its own: logged, attachable, exit recorded', async () => {
    const id = fx.id();
    const b = fx.bundle(id, ['sleep', '1000']);
    await fx.runtime.createWithShim(id, b);
    await fx.runtime.start(id);
    const dir = path.join(b, 'exec-1');
    const { pid } = await fx.runtime.execWithShim(
      id,
      { args: ['sh', '-c', 'read x; echo exec:$x; exit 6'], cwd: '/', user: { uid: 0, gid: 0 }, env: ['PATH=/bin'] },
      dir,
      { stdin: true },
    );
    assert.ok((await fx.runtime.ps(id)).includes(pid));
    const att = await fx.runtime.attach(dir);
    att.write('hi\n');
    const exit = await fx.runtime.waitExit(dir);
    att.close();
    assert.deepEqual([exit.pid, exit.exitStatus], [pid, 6]);
    assert.deepEqual(
      readLog(path.join(dir, 'exec.log')).map((l) => l.log),
      ['exec:hi\n'],
    );
    assert.equal((await fx.runtime.state(id)).status, 'running');
  });
});
