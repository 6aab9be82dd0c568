/** The task manager on the real kernel (root): busybox containers through runtime-native's shim. */
import { isKind, ErrorKind } from '@ctl/proto/errors';
import { Attachment } from '@ctl/runtime-native';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BUSYBOX, TasksFixture, collect, mountsUnder, waitFor } from './tasks-fixture';

const isRoot = process.getuid?.() === 0;
const NS = 'default';

describe('tasks (root, real kernel)', function () {
  let fx: TasksFixture;
  before(async function () {
    if (!isRoot || !fs.existsSync(BUSYBOX)) this.skip();
    fx = new TasksFixture();
    await fx.open();
  });
  afterEach(async () => fx && (await fx.cleanup()));
  after(() => fx?.destroy());

  async function run(cmd: string[]): Promise<string> {
    const id = fx.container(cmd);
    const created = await fx.manager.create(NS, id, { rootfs: fx.rootfsMounts() });
    fx.rememberPid(id, created.pid);
    return id;
  }

  it('creates, starts and waits for echo hello: exit 0, "hello" in the log, events in order', async () => {
    const id = await run(['echo', 'hello']);
    const m = fx.manager;
    assert.equal((await m.get(NS, id)).status, 'CREATED');
    assert.ok(mountsUnder(m.bundleDir(NS, id)).length > 0, 'rootfs mounted');
    const waited = m.wait(NS, id); // before start
    const { pid } = await m.start(NS, id);
    assert.ok(pid > 0);
    const exit = await waited;
    assert.equal(exit.exitStatus, 0);
    const got = await m.get(NS, id);
    assert.equal(got.status, 'STOPPED');
    assert.equal(got.exitStatus, 0);
    const lines = await collect(m.logs(NS, id));
    assert.deepEqual(
      lines.map((l) => l.log.trim()),
      ['hello'],
    );
    const del = await m.delete(NS, id);
    assert.equal(del.exitStatus, 0);
    assert.equal(fs.existsSync(m.bundleDir(NS, id)), false, 'bundle removed');
    assert.deepEqual(mountsUnder(m.bundleDir(NS, id)), []);
    // the log outlives the task until the container's removal
    assert.equal((await collect(m.logs(NS, id))).length, 1);
    m.removeLogs(NS, id);
    assert.deepEqual(fx.publisher.topics(id), ['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete']);
    const ev = fx.publisher.events.find((e) => e.topic === '/tasks/exit' && e.event.containerId === id)!;
    assert.equal(ev.type, 'containerd.events.TaskExit');
    assert.equal(ev.event.id, id);
    assert.equal(ev.event.exitStatus, 0);
    await assert.rejects(m.get(NS, id), (e) => isKind(e, ErrorKind.NotFound));
  });

  it('notices a SIGKILLed shim: its container is killed, Wait and Get give 255, Delete works; for an exec too', async function () {
    this.timeout(30_000);
    // Nothing but the shim records an exit: Wait, ctl stop and ps waited on its exit.json for ever.
    const m = fx.manager;
    const shimOf = (dir: string): number => Number(fs.readFileSync(path.join(dir, 'shim.pid'), 'utf8').split(' ')[0]);
    const id = await run(['sleep', '60']);
    await m.start(NS, id);
    await m.exec(NS, id, { execId: 'e1', spec: { args: ['sleep', '60'] } });
    await m.start(NS, id, 'e1');
    const execWaited = m.wait(NS, id, 'e1');
    process.kill(shimOf(path.join(m.bundleDir(NS, id), 'exec', 'e1')), 'SIGKILL');
    assert.equal((await execWaited).exitStatus, 255);
    assert.equal((await m.get(NS, id, 'e1')).status, 'STOPPED');
    assert.equal((await m.get(NS, id)).status, 'RUNNING', 'an exec shim lost is not the task lost');
    const { pid } = await m.get(NS, id);
    const waited = m.wait(NS, id);
    process.kill(shimOf(m.bundleDir(NS, id)), 'SIGKILL');
    assert.equal((await waited).exitStatus, 255);
    const got = await m.get(NS, id);
    assert.deepEqual([got.status, got.exitStatus], ['STOPPED', 255]);
    await waitFor('the container killed', () => !fs.existsSync(`/proc/${pid}`) || undefined, 5000);
    const exits = fx.publisher.events.filter((e) => e.topic === '/tasks/exit' && e.event.containerId === id);
    assert.deepEqual(
      exits.map((e) => [e.event.id, e.event.exitStatus]),
      [
        ['e1', 255],
        [id, 255],
      ],
    );
    await assert.rejects(m.kill(NS, id, 15), (e) => isKind(e, ErrorKind.NotFound));
    assert.equal((await m.delete(NS, id)).exitStatus, 255);
  });

  it('reports exit code 3', async () => {
    const id = await run(['sh', '-c', 'exit 3']);
    await fx.manager.start(NS, id);
    assert.equal((await fx.manager.wait(NS, id)).exitStatus, 3);
    assert.equal((await fx.manager.delete(NS, id)).exitStatus, 3);
  });

  it('kills a sleep with SIGTERM; Delete while running is FailedPrecondition', async () => {
    // pid 1 of a pid namespace ignores signals it has no handler for: the shell traps TERM
    const id = await run(['sh', '-c', 'trap "exit 143" TERM; echo trapped; while :; do sleep 0.05; done']);
    await fx.manager.start(NS, id);
    // Start returns at the shell's exec, before it sets the trap: a TERM sooner would meet pid 1 without a handler.
    await waitFor('the trap set', async () => (await collect(fx.manager.logs(NS, id))).some((l) => l.log.trim() === 'trapped'));
    assert.equal((await fx.manager.get(NS, id)).status, 'RUNNING');
    await assert.rejects(fx.manager.delete(NS, id), (e) => isKind(e, ErrorKind.FailedPrecondition));
    await fx.manager.kill(NS, id, 15);
    const exit = await fx.manager.wait(NS, id);
    assert.equal(exit.exitStatus, 128 + 15);
    assert.equal((await fx.manager.get(NS, id)).status, 'STOPPED');
    await assert.rejects(fx.manager.kill(NS, id, 15), (e) => isKind(e, ErrorKind.NotFound));
    await fx.manager.delete(NS, id);
  });

  it('execs echo in a running task, lists pids, pauses and resumes, gives metrics, updates resources', async () => {
    const id = await run(['sleep', '60']);
    const { pid } = await fx.manager.start(NS, id);
    const m = fx.manager;
    await m.exec(NS, id, { execId: 'e1', spec: { args: ['sh', '-c', 'echo from-exec; exit 4'], env: ['PATH=/bin'], cwd: '/' } });
    assert.equal((await m.get(NS, id, 'e1')).status, 'CREATED');
    // containerd's identifier rule (the Containers store's too): single '.', '_' or '-' between letters and digits
    for (const bad of ['e1-', 'a..b', '_a', 'x'.repeat(77)]) {
      await assert.rejects(m.exec(NS, id, { execId: bad, spec: { args: ['true'] } }), (e) => isKind(e, ErrorKind.InvalidArgument), bad);
      await assert.rejects(m.create(NS, bad), (e) => isKind(e, ErrorKind.InvalidArgument), bad);
    }
    const started = await m.start(NS, id, 'e1');
    assert.ok(started.pid > 0);
    const exit = await m.wait(NS, id, 'e1');
    assert.equal(exit.exitStatus, 4);
    assert.deepEqual(
      (await collect(m.logs(NS, id, { execId: 'e1' }))).map((l) => l.log.trim()),
      ['from-exec'],
    );
    assert.equal((await m.deleteProcess(NS, id, 'e1')).exitStatus, 4);
    assert.ok(fx.publisher.topics(id).includes('/tasks/exec-added'));
    assert.ok(fx.publisher.topics(id).includes('/tasks/exec-started'));

    const pids = await m.pids(NS, id);
    assert.ok(pids.includes(pid), `pids ${pids.join(',')} include ${pid}`);

    await m.pause(NS, id);
    assert.equal((await m.get(NS, id)).status, 'PAUSED');
    await m.resume(NS, id);
    assert.equal((await m.get(NS, id)).status, 'RUNNING');
    assert.ok(fx.publisher.topics(id).includes('/tasks/paused') && fx.publisher.topics(id).includes('/tasks/resumed'));

    const metrics = await m.metrics(NS, [id]);
    assert.equal(metrics.length, 1);
    assert.equal(metrics[0]!.id, id);
    assert.ok(Object.keys(metrics[0]!.data).length > 0);

    await m.update(NS, id, { pids: { limit: 50 } });
    await assert.rejects(m.resizePty(NS, id, '', 80, 24), (e) => isKind(e, ErrorKind.FailedPrecondition)); // no terminal
  });

  it('an exec attached after it started gets its output from the start, stdout and stderr apart; also when it has already exited', async () => {
    const id = await run(['sleep', '60']);
    await fx.manager.start(NS, id);
    const m = fx.manager;
    const frames = async (execId: string, args: string[]): Promise<{ out: string; err: string; exit: number }> => {
      await m.exec(NS, id, { execId, spec: { args, env: ['PATH=/bin'], cwd: '/' } });
      await m.start(NS, id, execId);
      const exit = m.wait(NS, id, execId);
      if (execId === 'late') await exit; // the process is gone before anyone attaches
      const a = await Attachment.connect(m.attachPath(NS, id, execId));
      let out = '';
      let err = '';
      a.on('stdout', (d: Buffer) => (out += d.toString()));
      a.on('stderr', (d: Buffer) => (err += d.toString()));
      await new Promise((r) => a.once('close', r));
      return { out, err, exit: (await exit).exitStatus };
    };
    assert.deepEqual(await frames('early', ['sh', '-c', 'echo first; echo to-err >&2; sleep 0.3; echo last']), {
      out: 'first\nlast\n',
      err: 'to-err\n',
      exit: 0,
    });
    assert.deepEqual(await frames('late', ['sh', '-c', 'echo quick; exit 5']), { out: 'quick\n', err: '', exit: 5 });
  });

  it('execs on a terminal: a pty of the container, resized through ResizePty', async () => {
    const id = await run(['sleep', '60']);
    await fx.manager.start(NS, id);
    const m = fx.manager;
    await m.exec(NS, id, {
      execId: 't1',
      terminal: true,
      spec: { args: ['sh', '-c', 'tty; sleep 0.5; stty size'], env: ['PATH=/bin'], cwd: '/' },
    });
    assert.equal((await m.get(NS, id, 't1')).terminal, true);
    await m.start(NS, id, 't1');
    await m.resizePty(NS, id, 't1', 100, 40);
    assert.equal((await m.wait(NS, id, 't1')).exitStatus, 0);
    const [tty, size] = (await collect(m.logs(NS, id, { execId: 't1' }))).map((l) => l.log.trim());
    assert.match(tty!, /^\/dev\/pts\/\d+$/);
    assert.equal(size, '40 100');
  });

  it('gives stdin to a task created with one and closes it through CloseIO', async () => {
    const id = fx.container(['sh', '-c', 'cat; echo done']);
    fx.rememberPid(id, (await fx.manager.create(NS, id, { rootfs: fx.rootfsMounts(), stdin: 'attach' })).pid);
    const attach = fx.manager.attachPath(NS, id);
    assert.ok(fs.existsSync(attach));
    await fx.manager.start(NS, id);
    await fx.manager.closeIO(NS, id);
    assert.equal((await fx.manager.wait(NS, id)).exitStatus, 0);
    assert.deepEqual(
      (await collect(fx.manager.logs(NS, id))).map((l) => l.log.trim()),
      ['done'],
    );
  });

  it('copies output into containerd-style FIFOs and stdin from one', async () => {
    const dir = fs.mkdtempSync(path.join(fx.tmp.base, 'fifo-'));
    const [stdin, stdout, stderr] = ['in', 'out', 'err'].map((n) => path.join(dir, n)) as [string, string, string];
    for (const f of [stdin, stdout, stderr]) execFileSync('mkfifo', ['-m', '0600', f]);
    const id = fx.container(['sh', '-c', 'read line; echo "got $line"; echo oops >&2']);
    fx.rememberPid(id, (await fx.manager.create(NS, id, { rootfs: fx.rootfsMounts(), stdin, stdout, stderr })).pid);
    // the client's ends, as ctr opens them
    const readAll = (f: string) =>
      new Promise<string>((resolve) => {
        let text = '';
        const s = fs.createReadStream(f);
        s.on('data', (d) => (text += d.toString()));
        s.on('end', () => resolve(text));
      });
    const out = readAll(stdout);
    const err = readAll(stderr);
    const w = fs.createWriteStream(stdin);
    await fx.manager.start(NS, id);
    w.write('hello\n');
    assert.equal((await fx.manager.wait(NS, id)).exitStatus, 0);
    w.destroy();
    assert.equal(await out, 'got hello\n');
    assert.equal(await err, 'oops\n');
    await fx.manager.delete(NS, id);
  });

  it('runs a task on a terminal and resizes it', async () => {
    const id = fx.container(['sh', '-c', 'sleep 0.5; stty size']);
    fx.rememberPid(id, (await fx.manager.create(NS, id, { rootfs: fx.rootfsMounts(), terminal: true })).pid);
    await fx.manager.start(NS, id);
    await fx.manager.resizePty(NS, id, '', 100, 40);
    assert.equal((await fx.manager.wait(NS, id)).exitStatus, 0);
    assert.deepEqual(
      (await collect(fx.manager.logs(NS, id))).map((l) => l.log.trim()),
      ['40 100'],
    );
  });

  it('publishes /tasks/oom for a task its memory limit killed', async () => {
    const id = fx.container(['sh', '-c', 'x=$(head -c 64000000 /dev/zero | tr "\\0" a); echo survived'], NS, (spec) => {
      spec.linux = { ...spec.linux, resources: { ...spec.linux?.resources, memory: { limit: 16 * 1024 * 1024 } } };
    });
    fx.rememberPid(id, (await fx.manager.create(NS, id, { rootfs: fx.rootfsMounts() })).pid);
    await fx.manager.start(NS, id);
    const exit = await fx.manager.wait(NS, id);
    assert.notEqual(exit.exitStatus, 0);
    assert.deepEqual(fx.publisher.topics(id).slice(0, 4), ['/tasks/create', '/tasks/start', '/tasks/oom', '/tasks/exit']);
  });

  it('follows the log until the task exits', async () => {
    const id = await run(['sh', '-c', 'echo one; sleep 0.3; echo two']);
    await fx.manager.start(NS, id);
    const lines = await collect(fx.manager.logs(NS, id, { follow: true }));
    assert.deepEqual(
      lines.map((l) => l.log.trim()),
      ['one', 'two'],
    );
    assert.deepEqual(
      (await collect(fx.manager.logs(NS, id, { tail: 1 }))).map((l) => l.log.trim()),
      ['two'],
    );
  });

  it('deletes a task that was created but never started', async () => {
    const id = await run(['sleep', '60']);
    await fx.manager.delete(NS, id);
    assert.equal(fs.existsSync(fx.manager.bundleDir(NS, id)), false);
  });

  it('refuses a second task for a container and a task for a missing container', async () => {
    const id = await run(['true']);
    await assert.rejects(fx.manager.create(NS, id, { rootfs: fx.rootfsMounts() }), (e) => isKind(e, ErrorKind.AlreadyExists));
    await assert.rejects(fx.manager.create(NS, 'nope', { rootfs: fx.rootfsMounts() }), (e) => isKind(e, ErrorKind.NotFound));
    assert.equal(fs.existsSync(fx.manager.bundleDir(NS, 'nope')), false);
  });

  it('runs 10 tasks in parallel and deletes them cleanly', async function () {
    this.timeout(60_000);
    const ids = Array.from({ length: 10 }, () => fx.container(['sh', '-c', 'echo hi; sleep 0.2']));
    await Promise.all(ids.map(async (id) => fx.rememberPid(id, (await fx.manager.create(NS, id, { rootfs: fx.rootfsMounts() })).pid)));
    await Promise.all(ids.map((id) => fx.manager.start(NS, id)));
    assert.equal((await fx.manager.list(NS)).length, 10);
    const exits = await Promise.all(ids.map((id) => fx.manager.wait(NS, id)));
    assert.deepEqual(
      exits.map((e) => e.exitStatus),
      ids.map(() => 0),
    );
    await Promise.all(ids.map((id) => fx.manager.delete(NS, id)));
    assert.deepEqual(mountsUnder(fx.tmp.state), []);
    assert.deepEqual(fs.readdirSync(path.join(fx.manager.tasksDir, NS)), []);
    await waitFor('no task listed', async () => (await fx.manager.list(NS)).length === 0);
  });
});
