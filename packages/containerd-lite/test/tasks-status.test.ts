/**
 * Where a task's status comes from (root, real kernel). Get and List answer CREATED, RUNNING,
 * PAUSED and STOPPED from what the daemon's own verbs did, without running the runtime; a
 * manager opened on the tasks of one killed while a task was paused reads the runtime once, at
 * load, and answers PAUSED. What runs is seen from outside: the runtime binary the manager is
 * given is a wrapper that appends its command line to a file and execs ctl-runtime, so every
 * runtime command the daemon or a shim spawns is on a line.
 */
import { type ServerHandle, WireClient, createLogger, loadContracts, serveUnix } from '@ctl/proto';
import { ErrorKind, isKind } from '@ctl/proto/errors';
import { RUNTIME_BINARY, SHIM_BINARY } from '@ctl/runtime-native';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TasksClient } from '../src/tasks/client';
import { tasksRegistration } from '../src/tasks/grpc';
import { TaskManager, type TaskManagerOptions } from '../src/tasks/manager';
import type { TaskStatus } from '../src/tasks/tasks';
import { BUSYBOX, TasksFixture, cgroupDirs, runInChild } from './tasks-fixture';

const isRoot = process.getuid?.() === 0;
const NS = 'default';
/** ctl-runtime's options that take a value, before its verb */
const GLOBAL_WITH_VALUE = new Set(['--root', '--log', '--log-format']);

/** A ctl-runtime that logs each command line before it runs; verbs() are the logged commands' verbs since reset(). */
function loggingRuntime(dir: string): { binary: string; verbs: () => string[]; reset: () => void } {
  const log = path.join(dir, 'runtime-commands.log');
  const binary = path.join(dir, 'logging-runtime');
  fs.writeFileSync(binary, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec '${RUNTIME_BINARY}' "$@"\n`, { mode: 0o755 });
  const verbOf = (line: string): string => {
    const args = line.split(' ');
    for (let i = 0; i < args.length; i++) {
      if (GLOBAL_WITH_VALUE.has(args[i]!)) i++;
      else if (!args[i]!.startsWith('-')) return args[i]!;
    }
    return line;
  };
  return {
    binary,
    verbs: () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean).map(verbOf) : []),
    reset: () => fs.rmSync(log, { force: true }),
  };
}

/** Thaws the container's cgroup directly (cgroup v2's cgroup.freeze, v1's freezer), as no verb of the daemon does. */
function thawBehindTheDaemon(id: string): void {
  let thawed = false;
  for (const dir of cgroupDirs(id)) {
    for (const [file, value] of [
      ['cgroup.freeze', '0'],
      ['freezer.state', 'THAWED'],
    ] as const) {
      if (!fs.existsSync(path.join(dir, file))) continue;
      fs.writeFileSync(path.join(dir, file), value);
      thawed = true;
    }
  }
  assert.ok(thawed, `no freezer of ${id} found`);
}

describe('task status from what the daemon knows (root, real kernel)', function () {
  this.timeout(30_000);
  let fx: TasksFixture;
  let runtime: ReturnType<typeof loggingRuntime>;
  let manager: TaskManager | undefined;
  let server: ServerHandle | undefined;
  let wire: WireClient | undefined;
  const options = (): TaskManagerOptions => ({ ...fx.options(), runtimeBinary: runtime.binary, shimBinary: SHIM_BINARY });

  before(function () {
    if (!isRoot || !fs.existsSync(BUSYBOX)) this.skip();
    fx = new TasksFixture();
    runtime = loggingRuntime(fx.tmp.base);
  });
  beforeEach(() => runtime?.reset());
  afterEach(async () => {
    wire?.close();
    wire = undefined;
    await server?.shutdown(1000);
    server = undefined;
    if (fx) await fx.cleanup(manager);
    manager?.close();
    manager = undefined;
  });
  after(() => fx?.destroy());

  /** The manager served over a unix socket, and a client of its Tasks API. */
  async function serve(m: TaskManager): Promise<TasksClient> {
    const socket = path.join(fx.tmp.state, 'containerd-lite.sock');
    server = await serveUnix(
      socket,
      { name: 'containerd-lite', registrations: [tasksRegistration(loadContracts(), m)], close: async () => undefined },
      createLogger('test', 'error'),
    );
    wire = new WireClient(socket);
    return new TasksClient(wire, NS);
  }

  /** Get and List say `want` for each id, and no runtime command runs while they answer. */
  async function assertStatuses(tasks: TasksClient, want: Record<string, TaskStatus>): Promise<void> {
    const before = runtime.verbs().length;
    for (const [id, status] of Object.entries(want)) assert.equal((await tasks.get(id)).status, status, `Get ${id}`);
    const listed = Object.fromEntries((await tasks.list()).map((t) => [t.containerId, t.status]));
    assert.deepEqual(listed, want, 'List');
    assert.deepEqual(runtime.verbs().slice(before), [], 'runtime commands run by Get and List');
  }

  it("answers CREATED, RUNNING, PAUSED, RUNNING, STOPPED along a task's life, and runs the runtime for none of them", async () => {
    manager = await TaskManager.open(options());
    const tasks = await serve(manager);
    const id = fx.container(['sleep', '60']);
    fx.rememberPid(id, (await tasks.create(id, { rootfs: fx.rootfsMounts() })).pid);
    await assertStatuses(tasks, { [id]: 'CREATED' });
    await tasks.start(id);
    await assertStatuses(tasks, { [id]: 'RUNNING' });
    await tasks.pause(id);
    await assertStatuses(tasks, { [id]: 'PAUSED' });
    await tasks.resume(id);
    await assertStatuses(tasks, { [id]: 'RUNNING' });
    await tasks.kill(id, 9);
    assert.equal((await tasks.wait(id)).exitStatus, 137);
    await assertStatuses(tasks, { [id]: 'STOPPED' });
    assert.deepEqual(
      runtime.verbs().filter((v) => v !== 'create'),
      ['start', 'pause', 'resume', 'kill'],
      'the runtime ran for the verbs alone',
    );
  });

  it('refuses to pause a task that only was created, without asking the runtime', async () => {
    manager = await TaskManager.open(options());
    const tasks = await serve(manager);
    const id = fx.container(['sleep', '60']);
    fx.rememberPid(id, (await tasks.create(id, { rootfs: fx.rootfsMounts() })).pid);
    const before = runtime.verbs().length;
    await assert.rejects(tasks.pause(id), (e) => isKind(e, ErrorKind.FailedPrecondition));
    await assert.rejects(tasks.resume(id), (e) => isKind(e, ErrorKind.FailedPrecondition));
    assert.deepEqual(runtime.verbs().slice(before), []);
    await assertStatuses(tasks, { [id]: 'CREATED' });
    await tasks.start(id);
    await assertStatuses(tasks, { [id]: 'RUNNING' });
  });

  it('after a resume the runtime refused (its cgroup thawed behind the daemon), asks the runtime once and answers from that', async () => {
    manager = await TaskManager.open(options());
    const tasks = await serve(manager);
    const id = fx.container(['sleep', '60']);
    fx.rememberPid(id, (await tasks.create(id, { rootfs: fx.rootfsMounts() })).pid);
    await tasks.start(id);
    await tasks.pause(id);
    thawBehindTheDaemon(id);
    const before = runtime.verbs().length;
    await assert.rejects(tasks.resume(id), (e) => isKind(e, ErrorKind.FailedPrecondition));
    assert.deepEqual(runtime.verbs().slice(before), ['resume', 'state']);
    await assertStatuses(tasks, { [id]: 'RUNNING' });
  });

  it('after a restart, reads each status from the runtime once at load: a paused task is PAUSED, and RUNNING once resumed', async () => {
    const created = fx.container(['sleep', '60']);
    const running = fx.container(['sleep', '60']);
    const paused = fx.container(['sleep', '60']);
    const pids = await runInChild(fx, [created, running, paused], { [created]: 'CREATED', [paused]: 'PAUSED' });
    for (const [id, pid] of Object.entries(pids)) fx.rememberPid(id, pid);

    manager = await TaskManager.open(options());
    assert.deepEqual(runtime.verbs(), ['list'], 'one runtime command for the load, for the whole namespace');
    const tasks = await serve(manager);
    await assertStatuses(tasks, { [created]: 'CREATED', [running]: 'RUNNING', [paused]: 'PAUSED' });
    assert.equal((await tasks.get(paused)).pid, pids[paused]);

    await tasks.resume(paused);
    await tasks.start(created);
    await assertStatuses(tasks, { [created]: 'RUNNING', [running]: 'RUNNING', [paused]: 'RUNNING' });
    assert.deepEqual(runtime.verbs(), ['list', 'resume', 'start']);
  });
});
