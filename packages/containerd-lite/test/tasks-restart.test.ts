/**
 * Restart safety (root): a process holding a TaskManager is killed with SIGKILL while its tasks
 * run; a new manager on the same dirs finds the running task (same pid) and the one that exited
 * while nothing watched (its exit code, and /tasks/exit published then).
 */
import { ErrorKind, isKind } from '@ctl/proto/errors';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TaskManager } from '../src/tasks/manager';
import { BUSYBOX, RecordingPublisher, TasksFixture, runInChild, waitFor } from './tasks-fixture';

const isRoot = process.getuid?.() === 0;
const NS = 'default';

describe('tasks restart recovery (root, real kernel)', function () {
  let fx: TasksFixture;
  let recovered: TaskManager | undefined;
  before(function () {
    if (!isRoot || !fs.existsSync(BUSYBOX)) this.skip();
    fx = new TasksFixture();
  });
  afterEach(async () => {
    if (fx) await fx.cleanup(recovered);
    recovered?.close();
  });
  after(() => fx?.destroy());

  it('finds a running task and reports an exit that happened while the daemon was down', async function () {
    this.timeout(30_000);
    const running = fx.container(['sleep', '60']);
    const exited = fx.container(['sh', '-c', 'sleep 0.5; exit 7']);
    const pids = await runInChild(fx, [running, exited]);
    for (const id of [running, exited]) fx.rememberPid(id, pids[id]!);

    // the second task exits while no manager watches
    const bundleOf = (id: string) => path.join(fx.tmp.state, 'containerd-lite', 'tasks', NS, id);
    await waitFor('the exit while down', () => fs.existsSync(path.join(bundleOf(exited), 'exit.json')), 10_000);

    const publisher = new RecordingPublisher();
    recovered = await TaskManager.open(fx.options(publisher));
    const m = recovered;

    const r = await m.get(NS, running);
    assert.equal(r.status, 'RUNNING');
    assert.equal(r.pid, pids[running]);

    const e = await m.get(NS, exited);
    assert.equal(e.status, 'STOPPED');
    assert.equal(e.exitStatus, 7);
    assert.equal((await m.wait(NS, exited)).exitStatus, 7);
    const exits = publisher.events.filter((x) => x.topic === '/tasks/exit');
    assert.deepEqual(
      exits.map((x) => [x.event.containerId, x.event.exitStatus]),
      [[exited, 7]],
    );

    assert.equal((await m.list(NS)).length, 2);
    await assert.rejects(m.delete(NS, running), (x) => isKind(x, ErrorKind.FailedPrecondition));
    await m.kill(NS, running, 9);
    assert.equal((await m.wait(NS, running)).exitStatus, 137);
    // Wait answers as soon as the exit is recorded; the event may follow a moment later.
    const exitEvents = () => publisher.events.filter((x) => x.topic === '/tasks/exit').map((x) => x.event.containerId);
    await waitFor('the second /tasks/exit', () => exitEvents().length >= 2 || undefined, 5000);
    assert.deepEqual(exitEvents(), [exited, running]);
    assert.equal((await m.delete(NS, running)).exitStatus, 137);
    assert.equal((await m.delete(NS, exited)).exitStatus, 7);

    // a third manager publishes nothing again
    m.close();
    const again = new RecordingPublisher();
    recovered = await TaskManager.open(fx.options(again));
    assert.deepEqual(again.events, []);
    assert.deepEqual(await recovered.list(NS), []);
  });

  it('records 255 for a task whose shim and init died while the daemon was down, and deletes it', async function () {
    this.timeout(30_000);
    const id = fx.container(['sleep', '60']);
    const pids = await runInChild(fx, [id]);
    fx.rememberPid(id, pids[id]!);
    const shim = Number(fs.readFileSync(`/proc/${pids[id]}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
    process.kill(shim, 'SIGKILL');
    process.kill(pids[id]!, 'SIGKILL');
    await waitFor('the init to be gone', () => !fs.existsSync(`/proc/${pids[id]}`), 5000);
    const publisher = new RecordingPublisher();
    recovered = await TaskManager.open(fx.options(publisher));
    const got = await recovered.get(NS, id);
    assert.equal(got.status, 'STOPPED');
    assert.equal(got.exitStatus, 255);
    await waitFor('the exit event', () => publisher.events.some((e) => e.topic === '/tasks/exit'), 3000);
    assert.equal((await recovered.delete(NS, id)).exitStatus, 255);
  });
});
