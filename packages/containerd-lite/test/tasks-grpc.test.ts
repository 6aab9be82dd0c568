/** The Tasks gRPC adapter and the light TasksClient (root): the ctr run flow over a unix socket. */
import { type ServerHandle, WireClient, createLogger, loadContracts, serveUnix } from '@ctl/proto';
import { ErrorKind, isKind } from '@ctl/proto/errors';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TasksClient } from '../src/tasks/client';
import { attachRegistration } from '../src/tasks/attach-grpc';
import { tasksRegistration } from '../src/tasks/grpc';
import * as grpc from '@grpc/grpc-js';
import type { AttachRequest } from '@ctl/proto/generated/ctl/attach/v1/AttachRequest';
import type { AttachResponse__Output } from '@ctl/proto/generated/ctl/attach/v1/AttachResponse';
import { BUSYBOX, TasksFixture } from './tasks-fixture';

const isRoot = process.getuid?.() === 0;

describe('tasks over gRPC (root, real kernel)', function () {
  let fx: TasksFixture;
  let server: ServerHandle | undefined;
  let wire: WireClient | undefined;
  let tasks: TasksClient;
  let socket: string;
  before(async function () {
    if (!isRoot || !fs.existsSync(BUSYBOX)) this.skip();
    fx = new TasksFixture();
    const manager = await fx.open();
    socket = path.join(fx.tmp.state, 'containerd-lite.sock');
    server = await serveUnix(
      socket,
      {
        name: 'containerd-lite',
        registrations: [tasksRegistration(loadContracts(), manager), attachRegistration(loadContracts(), manager)],
        close: async () => undefined,
      },
      createLogger('test', 'error'),
    );
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
    assert.equal(got.id, '', 'our client names the init ""');
    // containerd names the init by its container's id; ctr's `containers rm` sends that id back.
    const raw = new (loadContracts().containerd.services.tasks.v1.Tasks)(`unix:${socket}`, grpc.credentials.createInsecure());
    try {
      const metadata = new grpc.Metadata();
      metadata.set('containerd-namespace', 'default');
      const wireId = await new Promise<string>((resolve, reject) =>
        raw.Get({ containerId: id }, metadata, (err, res) => (err ? reject(err) : resolve(res!.process!.id))),
      );
      assert.equal(wireId, id);
    } finally {
      raw.close();
    }
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

  describe('Attach (ctl.attach.v1), a bidirectional stream', () => {
    interface Outcome {
      stdout: string;
      stderr: string;
      exit?: number;
      /** the call's status code (0: OK) */
      code: number;
      details: string;
    }
    /** Opens an Attach call, sends the requests (the first one at once, the others once output began or at once), collects all. */
    function attach(requests: AttachRequest[], o: { afterOutput?: AttachRequest[]; ns?: string } = {}): Promise<Outcome> {
      const Client = loadContracts().ctl.attach.v1.Attach;
      const client = new Client(`unix://${socket}`, grpc.credentials.createInsecure());
      const md = new grpc.Metadata();
      md.set('containerd-namespace', o.ns ?? 'default');
      const call = client.Attach(md);
      const out: Outcome = { stdout: '', stderr: '', code: 0, details: '' };
      let later = o.afterOutput;
      return new Promise((resolve) => {
        call.on('data', (r: AttachResponse__Output) => {
          if (r.stdout) out.stdout += r.stdout.toString();
          if (r.stderr) out.stderr += r.stderr.toString();
          if (r.exit) out.exit = r.exit.exitStatus;
          if (later && (r.stdout || r.stderr)) {
            for (const q of later) call.write(q);
            later = undefined;
          }
        });
        call.on('status', (s: grpc.StatusObject) => {
          out.code = s.code;
          out.details = s.details;
          client.close();
          resolve(out);
        });
        call.on('error', () => undefined);
        for (const q of requests) call.write(q);
      });
    }

    it('streams output, takes stdin and gives the exit status last; stdout and stderr apart', async () => {
      const id = fx.container(['sh', '-c', 'read line; echo got $line; echo oops >&2; exit 6']);
      fx.rememberPid(id, (await tasks.create(id, { rootfs: fx.rootfsMounts(), stdin: 'attach' })).pid);
      // stdin reaches the process only through the stream, so its output cannot come before we are attached
      const outcome = attach([{ start: { containerId: id, stdin: true, stdout: true, stderr: true } }, { stdin: Buffer.from('hello\n') }]);
      await tasks.start(id);
      assert.deepEqual(await outcome, { stdout: 'got hello\n', stderr: 'oops\n', exit: 6, code: grpc.status.OK, details: 'OK' });
    });

    it('attaches to an exec after it started (its first output kept) and closes its stdin on request', async () => {
      const id = fx.container(['sleep', '60']);
      fx.rememberPid(id, (await tasks.create(id, { rootfs: fx.rootfsMounts() })).pid);
      await tasks.start(id);
      await tasks.exec(id, {
        execId: 'cat',
        stdin: 'attach',
        spec: { args: ['sh', '-c', 'echo first; cat; echo after-eof'], env: ['PATH=/bin'], cwd: '/' },
      });
      await tasks.start(id, 'cat');
      const outcome = await attach([{ start: { containerId: id, execId: 'cat', stdin: true, stdout: true } }], {
        afterOutput: [{ stdin: Buffer.from('piped\n') }, { closeStdin: true }],
      });
      assert.equal(outcome.code, grpc.status.OK, outcome.details);
      assert.deepEqual([outcome.stdout, outcome.exit], ['first\npiped\nafter-eof\n', 0]);
      await tasks.deleteProcess(id, 'cat');
    });

    it('NOT_FOUND for an unknown container or exec; INVALID_ARGUMENT when start is not first; FAILED_PRECONDITION for stdin a process lacks', async () => {
      const missing = await attach([{ start: { containerId: 'no-such-container', stdout: true } }]);
      assert.equal(missing.code, grpc.status.NOT_FOUND, missing.details);
      assert.match(missing.details, /no-such-container/);
      const id = fx.container(['sleep', '60']);
      fx.rememberPid(id, (await tasks.create(id, { rootfs: fx.rootfsMounts() })).pid);
      assert.equal((await attach([{ start: { containerId: id, execId: 'nope', stdout: true } }])).code, grpc.status.NOT_FOUND);
      assert.equal((await attach([{ start: { containerId: id, stdout: true } }], { ns: 'other-ns' })).code, grpc.status.NOT_FOUND);
      assert.equal((await attach([{ stdin: Buffer.from('x') }])).code, grpc.status.INVALID_ARGUMENT);
      assert.equal((await attach([{ start: { containerId: id, stdin: true } }])).code, grpc.status.FAILED_PRECONDITION);
      await tasks.start(id);
      await tasks.kill(id, 9);
      await tasks.wait(id);
      // an exited process has only its exit to give
      assert.deepEqual(await attach([{ start: { containerId: id, stdout: true } }]), {
        stdout: '',
        stderr: '',
        exit: 137,
        code: grpc.status.OK,
        details: 'OK',
      });
    });
  });
});
