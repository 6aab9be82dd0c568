/**
 * The task manager (containerd's runtime v2 task manager): the Tasks API's verbs on the tasks of
 * every namespace, through runtime-native's shims. Domain code (no gRPC). The parts, each in its
 * own file: the layout on disk (bundle.ts), starting shims and choosing the runtime
 * (shim-manager.ts), finding the tasks an earlier daemon left (shim-load.ts), one task and its
 * status (task.ts), one shim-held process (process.ts), events and exits (task-events.ts), and
 * containerd's stdio FIFOs (fifo.ts).
 *
 * The shims outlive this process: open() finds the bundles and watches them again; an exit that
 * happened while nothing watched is published then, once.
 */
import { ErrorKind, alreadyExists, isKind, failedPrecondition, invalidArgument, notFound } from '@ctl/proto/errors';
import type { Logger } from '@ctl/proto';
import { allows } from '@ctl/proto/task-status';
import { traced, tracedSync } from '@ctl/proto/trace';
import type { LogLine, Spec } from '@ctl/runtime-native';
import { type Mount, mountToWire } from '@ctl/runtime-native/mount';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Container } from '../containers/containers';
import { binaryName } from '../containers/runtime';
import { type Publisher, Topic } from '../events/events';
import { validateIdentifier } from '../identifiers';
import { KeyedQueue } from '@ctl/proto/keyed-queue';
import {
  TaskDirs,
  type TaskJson,
  bundleSpec,
  execsDir,
  makeBundleDir,
  mountRootfs,
  removeBundle,
  unmountRootfs,
  unmountRootfsIfMounted,
  writeExecJson,
  writeSpec,
  writeTaskJson,
} from './bundle';
import { FifoBridges } from './fifo';
import { followLog, type LogOptions } from './logs';
import { type KnownTask, taskLeftovers } from './leftovers';
import type { Problem } from '../system/check';
import { ShimProcess, type Stdio, processAlive } from './process';
import { type ShimBinaries, ShimManager } from './shim-manager';
import { loadTasks } from './shim-load';
import { type LiveStatus, Task } from './task';
import { TaskEvents } from './task-events';
import type { CreateTaskOptions, ExecOptions, ExitResult, KillOptions, Metric, ProcessState, TaskLocation, Tasks } from './tasks';

export interface TaskManagerOptions extends ShimBinaries {
  /** the instance's dirs: state (runtime state: bundles, runtime root) and root (persistent: logs) */
  dirs: { root: string; state: string };
  /** the container of a task (NotFound when there is none) */
  containers: (namespace: string, id: string) => Promise<Container>;
  publisher: Publisher;
  logger?: Logger;
}

export class TaskManager {
  private readonly tasks = new Map<string, Task>();
  private readonly queue = new KeyedQueue();
  private readonly dirs: TaskDirs;
  private readonly shims: ShimManager;
  private readonly bridges = new FifoBridges();
  private readonly events: TaskEvents;
  private readonly preparers: Array<(namespace: string, id: string) => Promise<void>> = [];

  private constructor(private readonly opts: TaskManagerOptions) {
    this.dirs = new TaskDirs(opts.dirs);
    this.shims = new ShimManager(this.dirs, opts);
    this.events = new TaskEvents(opts.publisher, opts.logger);
  }

  /** A manager that has found the tasks left by an earlier one (see shim-load.ts). */
  static async open(opts: TaskManagerOptions): Promise<TaskManager> {
    const m = new TaskManager(opts);
    await loadTasks({
      dirs: m.dirs,
      shims: m.shims,
      bridges: m.bridges,
      events: m.events,
      logger: opts.logger,
      add: (task) => m.tasks.set(m.key(task.namespace, task.id), task),
    });
    return m;
  }

  /** Stops watching; the shims and their containers keep running (a later open() finds them). */
  close(): void {
    this.events.close();
    this.bridges.closeAll();
    for (const t of this.tasks.values()) {
      t.init.unwatch();
      for (const e of t.execs.values()) e.unwatch();
    }
  }

  /**
   * fn runs in each task create (in the task's queue) before the bundle is made: it makes again
   * what the container needs outside its record and may have lost (its network after a reboot).
   */
  registerPrepare(fn: (namespace: string, id: string) => Promise<void>): void {
    this.preparers.push(fn);
  }

  /** What the host holds of this instance's tasks that no task accounts for (ctl system check). */
  leftovers(instanceDirs: string[]): Problem[] {
    const known: KnownTask[] = [...this.tasks.values()].map((t) => ({
      namespace: t.namespace,
      id: t.id,
      bundle: t.bundle,
      lost: !t.init.readExit() && t.init.readPid() > 0 && !processAlive(t.init.pid),
    }));
    return taskLeftovers(known, this.dirs.tasksDir, instanceDirs);
  }

  /** The Tasks API bound to one namespace. */
  namespace(ns: string): Tasks {
    return {
      create: (id, o) => this.create(ns, id, o),
      start: (id, e) => this.start(ns, id, e),
      delete: (id) => this.delete(ns, id),
      deleteProcess: (id, e) => this.deleteProcess(ns, id, e),
      get: (id, e) => this.get(ns, id, e),
      list: () => this.list(ns),
      kill: (id, s, o) => this.kill(ns, id, s, o),
      exec: (id, o) => this.exec(ns, id, o),
      resizePty: (id, e, w, h) => this.resizePty(ns, id, e, w, h),
      closeIO: (id, e) => this.closeIO(ns, id, e),
      pause: (id) => this.pause(ns, id),
      resume: (id) => this.resume(ns, id),
      pids: (id) => this.pids(ns, id),
      update: (id, r) => this.update(ns, id, r),
      metrics: (ids) => this.metrics(ns, ids),
      wait: (id, e) => this.wait(ns, id, e),
    };
  }

  // --- paths ---

  get tasksDir(): string {
    return this.dirs.tasksDir;
  }

  get runtimeDir(): string {
    return this.dirs.runtimeDir;
  }

  get logsDir(): string {
    return this.dirs.logsDir;
  }

  bundleDir(ns: string, id: string): string {
    return this.dirs.bundleDir(ns, id);
  }

  logPath(ns: string, id: string): string {
    return this.dirs.logPath(ns, id);
  }

  /** The shim's attach socket of the init (or an exec): Docker's multiplexed output; stdin when the process has one. */
  attachPath(ns: string, id: string, execId?: string): string {
    const t = this.task(ns, id);
    return path.join(execId ? t.exec(execId).dir : t.bundle, 'attach.sock');
  }

  /**
   * Where the init's (or an exec's) attach socket, log and root filesystem are, whether or not
   * the task or exec exists yet, and whether the OOM killer ended it.
   */
  locate(ns: string, id: string, execId = ''): TaskLocation {
    const bundle = this.bundleDir(ns, id);
    const dir = execId ? path.join(execsDir(bundle), validateIdentifier(execId, 'exec id')) : bundle;
    const t = this.tasks.get(this.key(ns, id));
    const p = execId ? t?.execs.get(execId) : t?.init;
    // Without rootfs mounts of its own the task runs on the spec's absolute root (see create).
    const spec = (): Spec => JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')) as Spec;
    return {
      attachSocket: path.join(dir, 'attach.sock'),
      logPath: execId ? path.join(dir, 'exec.log') : this.logPath(ns, id),
      rootfs: !t ? '' : t.meta.ownRootfs ? path.join(bundle, 'rootfs') : (spec().root?.path ?? ''),
      oomKilled: Boolean(p?.readExit()?.oomKilled),
    };
  }

  /** The output of the init (or an exec) as log lines; with follow, until the process has exited. */
  logs(ns: string, id: string, options: LogOptions & { execId?: string } = {}): AsyncIterable<LogLine> {
    const t = this.tasks.get(this.key(ns, id));
    if (options.execId) {
      const p = this.task(ns, id).exec(options.execId);
      return followLog(path.join(p.dir, 'exec.log'), () => !p.started || !!p.readExit(), options);
    }
    const file = this.logPath(ns, id);
    if (!t && !fs.existsSync(file)) throw notFound(`logs of container "${id}" not found`);
    return followLog(file, () => !t || this.tasks.get(this.key(ns, id)) !== t || !!t.init.readExit(), options);
  }

  /** Removes a container's log (to call when the container is deleted). */
  removeLogs(ns: string, id: string): void {
    fs.rmSync(this.logPath(ns, id), { force: true });
  }

  // --- lifecycle ---

  async create(ns: string, id: string, o: CreateTaskOptions = {}): Promise<ProcessState> {
    validateIdentifier(id, 'container id');
    return this.queue.run(this.key(ns, id), async () => {
      if (this.tasks.has(this.key(ns, id))) throw alreadyExists(`task "${id}" already exists`);
      const container = await traced('task.create.container', () => this.opts.containers(ns, id));
      const bundle = this.bundleDir(ns, id);
      if (fs.existsSync(bundle)) throw alreadyExists(`task "${id}": bundle ${bundle} exists`);
      await traced('task.create.prepare', async () => {
        for (const prepare of this.preparers) await prepare(ns, id);
      });
      const rootfsMounts = o.rootfs ?? [];
      const ownRootfs = rootfsMounts.length > 0;
      const runtimeName = binaryName(container.runtime);
      const runtime = this.shims.runtime(ns, runtimeName);
      const meta: TaskJson = {
        stdin: o.stdin ?? '',
        stdout: o.stdout ?? '',
        stderr: o.stderr ?? '',
        terminal: !!o.terminal,
        ownRootfs,
        createdAt: new Date().toISOString(),
        ...(runtimeName ? { runtime: runtimeName } : {}),
      };
      const spec = bundleSpec(container, meta.terminal, ownRootfs);
      let mounted = false;
      try {
        makeBundleDir(bundle);
        if (ownRootfs) {
          await traced('task.create.mount', () => mountRootfs(bundle, rootfsMounts));
          mounted = true;
        }
        tracedSync('task.create.bundle-write', () => {
          writeSpec(bundle, id, spec);
          fs.mkdirSync(path.join(this.logsDir, ns), { recursive: true, mode: 0o700 });
          writeTaskJson(bundle, meta);
        });
        const init = new ShimProcess('', bundle, path.join(bundle, 'init.pid'), meta, false);
        const pid = await traced('task.create.shim', () => this.shims.startInit(runtime, id, bundle, meta, this.logPath(ns, id)));
        init.pid = pid;
        await traced('task.create.bridge', () => this.bridges.bridge(init));
        const task = new Task(ns, id, bundle, runtime, init, meta);
        task.movedTo('CREATED');
        this.tasks.set(this.key(ns, id), task);
        this.events.watchInit(task);
        this.events.publish(ns, Topic.taskCreate, 'containerd.events.TaskCreate', {
          container_id: id,
          bundle,
          rootfs: rootfsMounts.map(mountToWire),
          io: { stdin: meta.stdin, stdout: meta.stdout, stderr: meta.stderr, terminal: meta.terminal },
          pid,
        });
        return task.state(init, 'CREATED');
      } catch (err) {
        this.bridges.unbridge(bundle);
        await runtime.delete(id, true).catch(() => undefined);
        if (mounted) await unmountRootfs(bundle).catch(() => undefined);
        removeBundle(bundle);
        throw err;
      }
    });
  }

  /**
   * Starts the init or an exec. `unless` (the restart supervisor's: has the user stopped the
   * container?) is asked inside the task's queue, so a Get that comes after whatever it read
   * waits for the start and sees the task running; when it says yes, nothing starts (`skipped`).
   */
  async start(ns: string, id: string, execId = '', unless?: () => Promise<boolean>): Promise<{ pid: number; skipped?: boolean }> {
    return this.queue.run(this.key(ns, id), async () => {
      const t = this.task(ns, id);
      if (!execId) {
        if (t.init.readExit()) throw failedPrecondition(`task "${id}" has exited`);
        if (unless && (await unless())) return { pid: t.init.pid, skipped: true };
        t.starting = true;
        try {
          await traced('task.start.runtime', () => t.runtime.start(id)).catch(async (err: unknown) => {
            // The init may have been released before the failure (or exited): the runtime says where it is.
            await t.resync();
            throw err;
          });
          t.init.started = true;
          t.movedTo('RUNNING');
          this.events.publish(ns, Topic.taskStart, 'containerd.events.TaskStart', { container_id: id, pid: t.init.pid });
        } finally {
          t.starting = false;
          const pending = t.pendingExit;
          t.pendingExit = undefined;
          pending?.();
        }
        return { pid: t.init.pid };
      }
      const p = t.exec(execId);
      if (p.started) throw failedPrecondition(`exec "${execId}" in task "${id}" was already started`);
      const pid = await this.shims.startExec(t.runtime, id, p);
      p.pid = pid;
      p.started = true;
      await this.bridges.bridge(p).catch((err) => this.opts.logger?.warn('exec stdio FIFOs', { id, execId, err: (err as Error).message }));
      this.events.watchExec(t, p);
      this.events.publish(ns, Topic.taskExecStarted, 'containerd.events.TaskExecStarted', { container_id: id, exec_id: execId, pid });
      return { pid };
    });
  }

  async delete(ns: string, id: string): Promise<ExitResult> {
    return this.queue.run(this.key(ns, id), async () => {
      const t = this.task(ns, id);
      const status = await traced('task.delete.status', () => t.initStatus());
      if (!allows(status, 'delete')) throw failedPrecondition(`task "${id}" is ${status.toLowerCase()}: kill it before deleting`);
      if (status === 'CREATED') {
        // Never started: the runtime kills the waiting init; the shim records its exit.
        await t.runtime.delete(id, true).catch(() => undefined);
        await Promise.race([t.init.waitExit(), new Promise((r) => setTimeout(r, 5000))]);
      }
      await traced('task.delete.runtime', () => t.runtime.delete(id, true)).catch((err) => {
        if (!isKind(err, ErrorKind.NotFound)) throw err;
      });
      t.init.unwatch();
      this.bridges.unbridge(t.init.dir);
      for (const e of t.execs.values()) {
        e.unwatch();
        this.bridges.unbridge(e.dir);
      }
      if (t.meta.ownRootfs) await traced('task.delete.unmount', () => unmountRootfsIfMounted(t.bundle));
      tracedSync('task.delete.bundle', () => removeBundle(t.bundle));
      this.tasks.delete(this.key(ns, id));
      const result = t.init.result(id);
      this.events.publish(ns, Topic.taskDelete, 'containerd.events.TaskDelete', {
        container_id: id,
        id,
        pid: result.pid,
        exit_status: result.exitStatus,
        exited_at: result.exitedAt,
      });
      return result;
    });
  }

  async deleteProcess(ns: string, id: string, execId: string): Promise<ExitResult> {
    if (!execId) return this.delete(ns, id);
    return this.queue.run(this.key(ns, id), async () => {
      const t = this.task(ns, id);
      const p = t.exec(execId);
      if (p.started && !p.readExit()) throw failedPrecondition(`exec "${execId}" in task "${id}" is running: kill it before deleting`);
      p.unwatch();
      this.bridges.unbridge(p.dir);
      fs.rmSync(p.dir, { recursive: true, force: true });
      t.execs.delete(execId);
      const result = p.result(execId);
      this.events.publish(ns, Topic.taskDelete, 'containerd.events.TaskDelete', {
        container_id: id,
        id: execId,
        pid: result.pid,
        exit_status: result.exitStatus,
        exited_at: result.exitedAt,
      });
      return result;
    });
  }

  /**
   * A process's state once the create, start or delete in progress for the task is done: a
   * caller never sees a task half made (absent while its create runs, CREATED while it starts),
   * which `ctl rm -f` and `ctl stop` would take for a task they need not signal.
   */
  async get(ns: string, id: string, execId = ''): Promise<ProcessState> {
    await this.queue.settled(this.key(ns, id));
    const t = this.task(ns, id);
    if (!execId) return t.state(t.init, await t.initStatus());
    const p = t.exec(execId);
    return t.state(p, t.execStatus(p));
  }

  /** Every task's init; the rare task whose status needs the runtime does not hold up the others. */
  async list(ns: string): Promise<ProcessState[]> {
    const tasks = [...this.tasks.values()].filter((t) => t.namespace === ns);
    return Promise.all(tasks.map(async (t) => t.state(t.init, await t.initStatus())));
  }

  async kill(ns: string, id: string, signal: number, o: KillOptions = {}): Promise<void> {
    const t = this.task(ns, id);
    if (!o.execId) {
      if (t.init.readExit()) throw notFound(`task "${id}": process already finished`);
      await t.runtime.kill(id, signal, !!o.all).catch((err) => {
        throw t.init.readExit() ? notFound(`task "${id}": process already finished`) : err;
      });
      return;
    }
    const p = t.exec(o.execId);
    if (!p.started || p.readExit() || !p.pid)
      throw notFound(`exec "${o.execId}" in task "${id}": process ${p.started ? 'already finished' : 'not started'}`);
    try {
      process.kill(p.pid, signal);
    } catch (err) {
      throw notFound(`exec "${o.execId}" in task "${id}": ${(err as Error).message}`);
    }
  }

  async exec(ns: string, id: string, o: ExecOptions): Promise<void> {
    validateIdentifier(o.execId, 'exec id');
    return this.queue.run(this.key(ns, id), async () => {
      const t = this.task(ns, id);
      if (t.execs.has(o.execId)) throw alreadyExists(`exec "${o.execId}" in task "${id}" already exists`);
      if (t.init.readExit()) throw failedPrecondition(`task "${id}" has exited`);
      if (!Array.isArray(o.spec.args) || o.spec.args.length === 0) throw invalidArgument(`exec "${o.execId}": spec.args is required`);
      const dir = path.join(execsDir(t.bundle), o.execId);
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      const stdio: Stdio = { stdin: o.stdin ?? '', stdout: o.stdout ?? '', stderr: o.stderr ?? '', terminal: !!o.terminal };
      writeExecJson(dir, { spec: { cwd: '/', ...o.spec }, ...stdio });
      t.execs.set(o.execId, new ShimProcess(o.execId, dir, path.join(dir, 'exec.pid'), stdio, false));
      this.events.publish(ns, Topic.taskExecAdded, 'containerd.events.TaskExecAdded', { container_id: id, exec_id: o.execId });
    });
  }

  async resizePty(ns: string, id: string, execId: string, width: number, height: number): Promise<void> {
    const t = this.task(ns, id);
    const p = t.process(execId);
    if (!p.stdio.terminal) throw failedPrecondition(`resize pty of "${execId || id}": it has no terminal`);
    if (p.readExit()) throw notFound(`resize pty of "${execId || id}": process already finished`);
    await t.runtime.resizePty(p.dir, width, height);
  }

  async closeIO(ns: string, id: string, execId = ''): Promise<void> {
    const t = this.task(ns, id);
    const p = t.process(execId);
    if (!p.stdio.stdin) return; // no stdin: nothing to close
    if (p.readExit()) return;
    await t.runtime.closeStdin(p.dir).catch((err) => {
      if (!p.readExit()) throw err; // else the shim left meanwhile: nothing to close
    });
  }

  /**
   * Pause and Resume run in the task's queue, as they change its status: a Get waits for them and
   * sees where they left it. Only a running task is paused: containerd's shim refuses a created
   * one, which the runtime would freeze and yet still call created.
   */
  async pause(ns: string, id: string): Promise<void> {
    return this.queue.run(this.key(ns, id), async () => {
      await this.moveInit(this.task(ns, id), 'pause', 'RUNNING', 'PAUSED');
      this.events.publish(ns, Topic.taskPaused, 'containerd.events.TaskPaused', { container_id: id });
    });
  }

  async resume(ns: string, id: string): Promise<void> {
    return this.queue.run(this.key(ns, id), async () => {
      await this.moveInit(this.task(ns, id), 'resume', 'PAUSED', 'RUNNING');
      this.events.publish(ns, Topic.taskResumed, 'containerd.events.TaskResumed', { container_id: id });
    });
  }

  async pids(ns: string, id: string): Promise<number[]> {
    const t = this.task(ns, id);
    return t.runtime.ps(id);
  }

  async update(ns: string, id: string, resources: Record<string, unknown>): Promise<void> {
    const t = this.task(ns, id);
    await t.runtime.update(id, resources);
  }

  async metrics(ns: string, ids: string[] = []): Promise<Metric[]> {
    const out: Metric[] = [];
    for (const t of this.tasks.values()) {
      if (t.namespace !== ns || (ids.length && !ids.includes(t.id)) || t.init.readExit()) continue;
      try {
        out.push({ id: t.id, timestamp: new Date(), data: await t.runtime.stats(t.id) });
      } catch (err) {
        this.opts.logger?.debug('metrics', { id: t.id, err: (err as Error).message });
      }
    }
    return out;
  }

  async wait(ns: string, id: string, execId = ''): Promise<ExitResult> {
    const t = this.task(ns, id);
    const p = t.process(execId);
    await p.waitExit();
    return p.result(execId || id);
  }

  // --- helpers ---

  /**
   * Pauses or resumes the init, which the status table must allow, and records where that left
   * it. A verb the runtime failed may have been refused (nothing changed) or have stopped part
   * way (a freeze the kernel finishes later): the runtime's state is read then, and trusted unless
   * it still says `from`.
   */
  private async moveInit(t: Task, verb: 'pause' | 'resume', from: LiveStatus, to: LiveStatus): Promise<void> {
    const status = await t.initStatus();
    if (!allows(status, verb)) throw failedPrecondition(`cannot ${verb} task "${t.id}": it is ${status.toLowerCase()}`);
    try {
      await (verb === 'pause' ? t.runtime.pause(t.id) : t.runtime.resume(t.id));
    } catch (err) {
      await t.resync(from);
      throw err;
    }
    t.movedTo(to);
  }

  private key(ns: string, id: string): string {
    return `${ns}\0${id}`;
  }

  private task(ns: string, id: string): Task {
    const t = this.tasks.get(this.key(ns, id));
    if (!t) throw notFound(`task "${id}" not found`);
    return t;
  }
}

/** The task manager of a containerd-lite instance, for the service assembly. */
export function createTaskManager(opts: TaskManagerOptions): Promise<TaskManager> {
  return TaskManager.open(opts);
}

export type { Mount };
