/** The Tasks gRPC adapter and the light TasksClient (root): the ctr run flow over a unix socket. */
import { type ServerHandle, WireClient, createLogger, loadContracts, serveUnix } from '@ctl/proto';
import { ErrorKind, isKind } from '@ctl/proto/errors';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TasksClient } from '../src/tasks/client';
import { tasksRegistration } from '../src/tasks/grpc';
import { BUSYBOX, TasksFixture } from './tasks-fixture';

const isRoot = process.getuid?.() === 0;

describe('tasks over gRPC (root, real kernel)', function () {
  let fx: TasksFixture;
  let server: ServerHandle | undefined;
  let wire: WireClient | undefined;
  let tasks: TasksClient;
  before(async function () {
    if (!isRoot || !fs.existsSync(BUSYBOX)) this.skip();
    fx = new TasksFixture();
    const manager = await fx.open();
    const socket = path.join(fx.tmp.state, 'containerd-lite.sock');
    server = await serveUnix(socket, { name: 'containerd-lite', registrations: [tasksRegistration(loadContracts(), manager)], close: async () => undefined }, createLogger('test', 'error'));
    wire = new WireClient(socket);
    tasks = new TasksClient(wire, 'default');
  });
  afterEach(async () => fx && (await fx.cleanup()));
  after(async () => {
    wire?.close();
    await server?.shutdown(1000);
    fx?.destroy();
  });

  it('create → wait (before start) → start → get → delete, exit code through the wire', async () => {
    const id = fx.container(['sh', '-c', 'echo hi; exit 5']);
    const created = await tasks.create(id, { rootfs: fx.rootfsMounts() });
    fx.rememberPid(id, created.pid);
    assert.ok(created.pid > 0);
    const waited = tasks.wait(id);
    assert.equal((await tasks.start(id)).pid, created.pid);
    const exit = await waited;
    assert.equal(exit.exitStatus, 5);
    assert.ok(exit.exitedAt.getTime() > 0);
    const got = await tasks.get(id);
    assert.equal(got.status, 'STOPPED');
    assert.equal(got.exitStatus, 5);
    assert.equal((await tasks.delete(id)).exitStatus, 5);
    await assert.rejects(tasks.get(id), (e) => isKind(e, ErrorKind.NotFound));
  });

  it('exec, pids, metrics, update, kill and the errors a client acts on', async () => {
    const id = fx.container(['sleep', '60']);
    fx.rememberPid(id, (await tasks.create(id, { rootfs: fx.rootfsMounts() })).pid);
    const { pid } = await tasks.start(id);
    assert.equal((await tasks.list()).find((t) => t.containerId === id)?.status, 'RUNNING');
    await tasks.exec(id, { execId: 'x', spec: { args: ['true'], env: ['PATH=/bin'], cwd: '/' } });
    await tasks.start(id, 'x');
    assert.equal((await tasks.wait(id, 'x')).exitStatus, 0);
    assert.equal((await tasks.deleteProcess(id, 'x')).exitStatus, 0);
    assert.ok((await tasks.pids(id)).includes(pid));
    const metrics = await tasks.metrics([id]);
    assert.equal(metrics[0]?.id, id);
    assert.ok(Object.keys(metrics[0]!.data).length > 0);
    await tasks.update(id, { pids: { limit: 40 } });
    await tasks.pause(id);
    assert.equal((await tasks.get(id)).status, 'PAUSED');
    await tasks.resume(id);
    await assert.rejects(tasks.delete(id), (e) => isKind(e, ErrorKind.FailedPrecondition));
    await assert.rejects(tasks.resizePty(id, '', 80, 25), (e) => isKind(e, ErrorKind.FailedPrecondition));
    await tasks.closeIO(id);
    await tasks.kill(id, 9);
    assert.equal((await tasks.wait(id)).exitStatus, 137);
    await tasks.delete(id);
  });
});
