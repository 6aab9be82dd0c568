/**
 * The task manager: runs containers' tasks through runtime-native's shim and runtime. Domain
 * code (no gRPC). On disk, all under the instance's state dir (runtime state, gone at reboot):
 *
 *   <state>/containerd-lite/tasks/<ns>/<id>/          the bundle of one task
 *       config.json   the container's OCI spec, root.path = "rootfs" (when rootfs mounts are given)
 *       rootfs/       the Create request's mounts, mounted here
 *       task.json     what Create was asked (stdio paths, terminal, whether rootfs is ours to unmount, the runtime)
 *       init.pid, exit.json, runtime.log, attach.sock, console.sock    written by the shim/runtime
 *       exit.announced   marker: /tasks/exit was published for this exit (never twice, also across restarts)
 *       exec/<exec id>/  exec.json (the process and stdio), then the exec shim's exec.pid, exit.json,
 *                        exec.log (its output), attach.sock
 *   <state>/containerd-lite/runtime/<ns>/             ctl-runtime's root, one per namespace (as runc's in containerd)
 *   <state>/containerd-lite/{runc,crun}/<ns>/         runc's and crun's roots, for containers that name them
 *                                                     (containers/runtime.ts: runc options' binary_name)
 *   <root>/containerd-lite/logs/<ns>/<id>.log         the init's output, JSON lines; kept after the task's
 *                                                     delete until removeLogs (the container's removal)
 *
 * The shims outlive this process: open() scans the bundles and watches them again; an exit that
 * happened while nothing watched is published then, once.
 */
import { EngineError, ErrorKind, alreadyExists, failedPrecondition, invalidArgument, notFound } from '@ctl/proto/errors';
import type { Logger } from '@ctl/proto';
import { validateNamespace } from '@ctl/proto/namespace';
import { type ExitStatus, type LogLine, Runtime, RuntimeError, type Spec, runtimeChoice, writeBundle } from '@ctl/runtime-native';
import { type Mount, mountAll, unmountAll } from '@ctl/snapshotter';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type Container, SPEC_TYPE_URL } from '../containers/containers';
import { binaryName } from '../containers/runtime';
import { type Publisher, Topic } from '../events/events';
import { KeyedQueue } from '../keyed-queue';
import { FifoBridge } from './fifo';
import { followLog, type LogOptions } from './logs';
import { ShimProcess, type Stdio, exitCode } from './process';
import type {
  CreateTaskOptions,
  ExecOptions,
  ExitResult,
  KillOptions,
  Metric,
  ProcessState,
  TaskLocation,
  Tasks,
  TaskStatus,
} from './tasks';

export interface TaskManagerOptions {
  /** the instance's dirs: state (runtime state: bundles, runtime root) and root (persistent: logs) */
  dirs: { root: string; state: string };
  /** the container of a task (NotFound when there is none) */
  containers: (namespace: string, id: string) => Promise<Container>;
  publisher: Publisher;
  logger?: Logger;
  /** ctl-runtime / ctl-shim binaries (default: runtime-native's); runc and crun are found in PATH */
  runtimeBinary?: string;
  shimBinary?: string;
}

interface TaskJson extends Stdio {
  ownRootfs: boolean;
  createdAt: string;
  /** the container's runtime binary name: runc, crun; absent for ctl-runtime */
  runtime?: string;
}

class Task {
  readonly execs = new Map<string, ShimProcess>();
  /** While Start runs, the init's exit waits to be announced after /tasks/start. */
  starting = false;
  pendingExit?: () => void;
  constructor(
    readonly namespace: string,
    readonly id: string,
    readonly bundle: string,
    readonly runtime: Runtime,
    readonly init: ShimProcess,
    readonly meta: TaskJson,
  ) {}
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,75}$/;

function checkId(what: string, id: string): string {
  if (!ID_RE.test(id)) throw invalidArgument(`${what} "${id}": must match ${ID_RE.source}`);
  return id;
}

/** runtime-native's errors as engine errors, keeping their kind. */
function engine(err: unknown): unknown {
  if (err instanceof RuntimeError) return new EngineError(ErrorKind[err.kind], err.message, { cause: err });
  return err;
}

function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(value));
  fs.renameSync(tmp, file);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isMountPoint(dir: string): boolean {
  const real = fs.existsSync(dir) ? fs.realpathSync(dir) : dir;
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === real);
}

export class TaskManager {
  private readonly tasks = new Map<string, Task>();
  private readonly runtimes = new Map<string, Runtime>();
  private readonly queue = new KeyedQueue();
  /** FIFO bridges by process dir */
  private readonly bridges = new Map<string, FifoBridge>();
  readonly tasksDir: string;
  readonly runtimeDir: string;
  readonly logsDir: string;
  private closed = false;

  private constructor(private readonly opts: TaskManagerOptions) {
    this.tasksDir = path.join(opts.dirs.state, 'containerd-lite', 'tasks');
    this.runtimeDir = path.join(opts.dirs.state, 'containerd-lite', 'runtime');
    this.logsDir = path.join(opts.dirs.root, 'containerd-lite', 'logs');
  }

  /** A manager that has found the tasks left by an earlier one (see recover). */
  static async open(opts: TaskManagerOptions): Promise<TaskManager> {
    const m = new TaskManager(opts);
    await m.recover();
    return m;
  }

  /** Stops watching; the shims and their containers keep running (a later open() finds them). */
  close(): void {
    this.closed = true;
    for (const b of this.bridges.values()) b.close();
    this.bridges.clear();
    for (const t of this.tasks.values()) {
      t.init.unwatch();
      for (const e of t.execs.values()) e.unwatch();
    }
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

  bundleDir(ns: string, id: string): string {
    return path.join(this.tasksDir, validateNamespace(ns), checkId('container id', id));
  }

  logPath(ns: string, id: string): string {
    return path.join(this.logsDir, validateNamespace(ns), `${checkId('container id', id)}.log`);
  }

  /** The shim's attach socket of the init (or an exec): Docker's multiplexed output; stdin when the process has one. */
  attachPath(ns: string, id: string, execId?: string): string {
    const t = this.task(ns, id);
    return path.join(execId ? this.proc(t, execId).dir : t.bundle, 'attach.sock');
  }

  /**
   * Where the init's (or an exec's) attach socket, log and root filesystem are, whether or not
   * the task or exec exists yet, and whether the OOM killer ended it.
   */
  locate(ns: string, id: string, execId = ''): TaskLocation {
    const bundle = this.bundleDir(ns, id);
    const dir = execId ? path.join(bundle, 'exec', checkId('exec id', execId)) : bundle;
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
      const p = this.proc(this.task(ns, id), options.execId);
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
    checkId('container id', id);
    return this.queue.run(this.key(ns, id), async () => {
      if (this.tasks.has(this.key(ns, id))) throw alreadyExists(`task "${id}" already exists`);
      const container = await this.opts.containers(ns, id);
      const spec = this.specOf(container);
      const bundle = this.bundleDir(ns, id);
      if (fs.existsSync(bundle)) throw alreadyExists(`task "${id}": bundle ${bundle} exists`);
      const rootfsMounts = o.rootfs ?? [];
      const ownRootfs = rootfsMounts.length > 0;
      const runtimeName = binaryName(container.runtime);
      const runtime = this.runtime(ns, runtimeName);
      const meta: TaskJson = {
        stdin: o.stdin ?? '',
        stdout: o.stdout ?? '',
        stderr: o.stderr ?? '',
        terminal: !!o.terminal,
        ownRootfs,
        createdAt: new Date().toISOString(),
        ...(runtimeName ? { runtime: runtimeName } : {}),
      };
      spec.process = { ...(spec.process ?? { args: [], cwd: '/' }), terminal: meta.terminal } as Spec['process'];
      if (ownRootfs) spec.root = { ...(spec.root ?? {}), path: 'rootfs' } as Spec['root'];
      else if (!spec.root?.path || !path.isAbsolute(spec.root.path))
        throw invalidArgument(`task "${id}": no rootfs mounts and the spec's root.path is not absolute`);
      let mounted = false;
      try {
        fs.mkdirSync(path.dirname(bundle), { recursive: true, mode: 0o711 });
        fs.mkdirSync(bundle, { mode: 0o711 });
        if (ownRootfs) {
          fs.mkdirSync(path.join(bundle, 'rootfs'), { mode: 0o755 });
          await mountAll(rootfsMounts, path.join(bundle, 'rootfs'));
          mounted = true;
        }
        try {
          writeBundle(bundle, spec);
        } catch (err) {
          throw invalidArgument(`task "${id}": spec: ${(err as Error).message}`);
        }
        fs.mkdirSync(path.join(this.logsDir, ns), { recursive: true, mode: 0o700 });
        writeJsonAtomic(path.join(bundle, 'task.json'), meta);
        const init = new ShimProcess('', bundle, path.join(bundle, 'init.pid'), meta, false);
        const { pid } = await runtime
          .createWithShim(id, bundle, { tty: meta.terminal, stdin: meta.stdin !== '', attach: true, log: this.logPath(ns, id) })
          .catch((err) => Promise.reject(engine(err)));
        init.pid = pid;
        await this.bridge(init);
        const task = new Task(ns, id, bundle, runtime, init, meta);
        this.tasks.set(this.key(ns, id), task);
        this.watchInit(task);
        this.publish(ns, Topic.taskCreate, 'containerd.events.TaskCreate', {
          container_id: id,
          bundle,
          rootfs: rootfsMounts.map((m) => ({ type: m.type, source: m.source, target: m.target ?? '', options: m.options })),
          io: { stdin: meta.stdin, stdout: meta.stdout, stderr: meta.stderr, terminal: meta.terminal },
          pid,
        });
        return this.state(task, init, 'CREATED');
      } catch (err) {
        this.unbridge(bundle);
        await runtime.delete(id, true).catch(() => undefined);
        if (mounted) await unmountAll(path.join(bundle, 'rootfs')).catch(() => undefined);
        this.removeBundle(bundle);
        throw err;
      }
    });
  }

  async start(ns: string, id: string, execId = ''): Promise<{ pid: number }> {
    return this.queue.run(this.key(ns, id), async () => {
      const t = this.task(ns, id);
      if (!execId) {
        if (t.init.readExit()) throw failedPrecondition(`task "${id}" has exited`);
        t.starting = true;
        try {
          await t.runtime.start(id).catch((err) => Promise.reject(engine(err)));
          t.init.started = true;
          this.publish(ns, Topic.taskStart, 'containerd.events.TaskStart', { container_id: id, pid: t.init.pid });
        } finally {
          t.starting = false;
          const pending = t.pendingExit;
          t.pendingExit = undefined;
          pending?.();
        }
        return { pid: t.init.pid };
      }
      const p = this.proc(t, execId);
      if (p.started) throw failedPrecondition(`exec "${execId}" in task "${id}" was already started`);
      const { spec } = JSON.parse(fs.readFileSync(path.join(p.dir, 'exec.json'), 'utf8')) as { spec: Record<string, unknown> };
      const tty = p.stdio.terminal;
      const { pid } = await t.runtime
        .execWithShim(id, { ...spec, terminal: tty } as unknown as Spec['process'] & object, p.dir, {
          stdin: p.stdio.stdin !== '',
          attach: true,
          tty,
        })
        .catch((err) => Promise.reject(engine(err)));
      p.pid = pid;
      p.started = true;
      await this.bridge(p).catch((err) => this.opts.logger?.warn('exec stdio FIFOs', { id, execId, err: (err as Error).message }));
      this.watchExec(t, p);
      this.publish(ns, Topic.taskExecStarted, 'containerd.events.TaskExecStarted', { container_id: id, exec_id: execId, pid });
      return { pid };
    });
  }

  async delete(ns: string, id: string): Promise<ExitResult> {
    return this.queue.run(this.key(ns, id), async () => {
      const t = this.task(ns, id);
      const status = await this.initStatus(t);
      if (status === 'RUNNING' || status === 'PAUSED' || status === 'PAUSING')
        throw failedPrecondition(`task "${id}" is ${status.toLowerCase()}: kill it before deleting`);
      if (status === 'CREATED') {
        // Never started: the runtime kills the waiting init; the shim records its exit.
        await t.runtime.delete(id, true).catch(() => undefined);
        await Promise.race([t.init.waitExit(), new Promise((r) => setTimeout(r, 5000))]);
      }
      await t.runtime.delete(id, true).catch((err) => {
        if (!(err instanceof RuntimeError && err.kind === 'NotFound')) throw engine(err);
      });
      t.init.unwatch();
      this.unbridge(t.init.dir);
      for (const e of t.execs.values()) {
        e.unwatch();
        this.unbridge(e.dir);
      }
      const rootfs = path.join(t.bundle, 'rootfs');
      if (t.meta.ownRootfs && isMountPoint(rootfs)) await unmountAll(rootfs);
      this.removeBundle(t.bundle);
      this.tasks.delete(this.key(ns, id));
      const result = t.init.result(id);
      this.publish(ns, Topic.taskDelete, 'containerd.events.TaskDelete', {
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
      const p = this.proc(t, execId);
      if (p.started && !p.readExit()) throw failedPrecondition(`exec "${execId}" in task "${id}" is running: kill it before deleting`);
      p.unwatch();
      this.unbridge(p.dir);
      fs.rmSync(p.dir, { recursive: true, force: true });
      t.execs.delete(execId);
      const result = p.result(execId);
      this.publish(ns, Topic.taskDelete, 'containerd.events.TaskDelete', {
        container_id: id,
        id: execId,
        pid: result.pid,
        exit_status: result.exitStatus,
        exited_at: result.exitedAt,
      });
      return result;
    });
  }

  async get(ns: string, id: string, execId = ''): Promise<ProcessState> {
    const t = this.task(ns, id);
    if (!execId) return this.state(t, t.init, await this.initStatus(t));
    const p = this.proc(t, execId);
    return this.state(t, p, p.readExit() ? 'STOPPED' : p.started ? 'RUNNING' : 'CREATED');
  }

  async list(ns: string): Promise<ProcessState[]> {
    const out: ProcessState[] = [];
    for (const t of this.tasks.values()) if (t.namespace === ns) out.push(this.state(t, t.init, await this.initStatus(t)));
    return out;
  }

  async kill(ns: string, id: string, signal: number, o: KillOptions = {}): Promise<void> {
    const t = this.task(ns, id);
    if (!o.execId) {
      if (t.init.readExit()) throw notFound(`task "${id}": process already finished`);
      await t.runtime.kill(id, signal, !!o.all).catch((err) => {
        throw t.init.readExit() ? notFound(`task "${id}": process already finished`) : engine(err);
      });
      return;
    }
    const p = this.proc(t, o.execId);
    if (!p.started || p.readExit() || !p.pid)
      throw notFound(`exec "${o.execId}" in task "${id}": process ${p.started ? 'already finished' : 'not started'}`);
    try {
      process.kill(p.pid, signal);
    } catch (err) {
      throw notFound(`exec "${o.execId}" in task "${id}": ${(err as Error).message}`);
    }
  }

  async exec(ns: string, id: string, o: ExecOptions): Promise<void> {
    checkId('exec id', o.execId);
    return this.queue.run(this.key(ns, id), async () => {
      const t = this.task(ns, id);
      if (t.execs.has(o.execId)) throw alreadyExists(`exec "${o.execId}" in task "${id}" already exists`);
      if (t.init.readExit()) throw failedPrecondition(`task "${id}" has exited`);
      if (!Array.isArray(o.spec.args) || o.spec.args.length === 0) throw invalidArgument(`exec "${o.execId}": spec.args is required`);
      const dir = path.join(t.bundle, 'exec', o.execId);
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      const stdio: Stdio = { stdin: o.stdin ?? '', stdout: o.stdout ?? '', stderr: o.stderr ?? '', terminal: !!o.terminal };
      writeJsonAtomic(path.join(dir, 'exec.json'), { spec: { cwd: '/', ...o.spec }, ...stdio });
      t.execs.set(o.execId, new ShimProcess(o.execId, dir, path.join(dir, 'exec.pid'), stdio, false));
      this.publish(ns, Topic.taskExecAdded, 'containerd.events.TaskExecAdded', { container_id: id, exec_id: o.execId });
    });
  }

  async resizePty(ns: string, id: string, execId: string, width: number, height: number): Promise<void> {
    const t = this.task(ns, id);
    const p = execId ? this.proc(t, execId) : t.init;
    if (!p.stdio.terminal) throw failedPrecondition(`resize pty of "${execId || id}": it has no terminal`);
    if (p.readExit()) throw notFound(`resize pty of "${execId || id}": process already finished`);
    await t.runtime.resizePty(p.dir, width, height).catch((err) => Promise.reject(engine(err)));
  }

  async closeIO(ns: string, id: string, execId = ''): Promise<void> {
    const t = this.task(ns, id);
    const p = execId ? this.proc(t, execId) : t.init;
    if (!p.stdio.stdin) return; // no stdin: nothing to close
    if (p.readExit()) return;
    await t.runtime.closeStdin(p.dir).catch((err) => {
      if (!p.readExit()) throw engine(err); // else the shim left meanwhile: nothing to close
    });
  }

  async pause(ns: string, id: string): Promise<void> {
    const t = this.task(ns, id);
    await t.runtime.pause(id).catch((err) => Promise.reject(engine(err)));
    this.publish(ns, Topic.taskPaused, 'containerd.events.TaskPaused', { container_id: id });
  }

  async resume(ns: string, id: string): Promise<void> {
    const t = this.task(ns, id);
    await t.runtime.resume(id).catch((err) => Promise.reject(engine(err)));
    this.publish(ns, Topic.taskResumed, 'containerd.events.TaskResumed', { container_id: id });
  }

  async pids(ns: string, id: string): Promise<number[]> {
    const t = this.task(ns, id);
    return t.runtime.ps(id).catch((err) => Promise.reject(engine(err)));
  }

  async update(ns: string, id: string, resources: Record<string, unknown>): Promise<void> {
    const t = this.task(ns, id);
    const r = await t.runtime.command(['update', '--resources', '-', id], JSON.stringify(resources));
    if (r.code !== 0) {
      const msg = r.stderr.trim().replace(/^ctl-runtime: /, '');
      throw new EngineError(/does not exist/.test(msg) ? ErrorKind.NotFound : ErrorKind.InvalidArgument, `update task "${id}": ${msg}`);
    }
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
    const p = execId ? this.proc(t, execId) : t.init;
    await p.waitExit();
    return p.result(execId || id);
  }

  // --- restart recovery ---

  /**
   * Finds the bundles an earlier manager left: a task whose create did not finish (no task.json)
   * is removed; the others are watched again, and an exit recorded while nothing watched is
   * published now (once: exit.announced).
   */
  private async recover(): Promise<void> {
    if (!fs.existsSync(this.tasksDir)) return;
    for (const ns of fs.readdirSync(this.tasksDir)) {
      for (const id of fs.readdirSync(path.join(this.tasksDir, ns))) {
        await this.recoverOne(ns, id).catch((err: Error) =>
          this.opts.logger?.error('task not recovered', { namespace: ns, id, err: err.message }),
        );
      }
    }
  }

  private async recoverOne(ns: string, id: string): Promise<void> {
    const bundle = this.bundleDir(ns, id);
    let meta: TaskJson;
    try {
      meta = JSON.parse(fs.readFileSync(path.join(bundle, 'task.json'), 'utf8')) as TaskJson;
    } catch {
      // task.json is written before the runtime's create runs: no runtime has this container.
      this.opts.logger?.warn('removing a task whose create did not finish', { namespace: ns, id });
      const rootfs = path.join(bundle, 'rootfs');
      if (isMountPoint(rootfs)) await unmountAll(rootfs).catch(() => undefined);
      if (!isMountPoint(rootfs)) this.removeBundle(bundle);
      return;
    }
    const runtime = this.runtime(ns, meta.runtime ?? '');
    const init = new ShimProcess('', bundle, path.join(bundle, 'init.pid'), meta, true);
    const task = new Task(ns, id, bundle, runtime, init, meta);
    const execDir = path.join(bundle, 'exec');
    for (const execId of fs.existsSync(execDir) ? fs.readdirSync(execDir) : []) {
      const dir = path.join(execDir, execId);
      let stdio: Stdio;
      try {
        stdio = JSON.parse(fs.readFileSync(path.join(dir, 'exec.json'), 'utf8')) as Stdio;
      } catch {
        fs.rmSync(dir, { recursive: true, force: true });
        continue;
      }
      const p = new ShimProcess(execId, dir, path.join(dir, 'exec.pid'), stdio, fs.existsSync(path.join(dir, 'exec.pid')));
      task.execs.set(execId, p);
      if (p.started) this.watchExec(task, p);
      if (p.started && !p.readExit()) await this.bridge(p).catch(() => undefined);
    }
    this.tasks.set(this.key(ns, id), task);
    this.watchInit(task);
    await this.reconcileLostShim(task);
    if (!init.readExit()) {
      await this.bridge(init).catch((err) =>
        this.opts.logger?.warn('stdio FIFOs not reopened', { namespace: ns, id, err: (err as Error).message }),
      );
    }
    this.opts.logger?.info('task recovered', { namespace: ns, id, pid: init.pid, exited: !!init.exit });
  }

  /**
   * An init that is gone without an exit.json (its shim was killed too) would never be waited
   * for: give the shim a moment, then record the exit as containerd does for a lost shim (255).
   */
  private async reconcileLostShim(t: Task): Promise<void> {
    const p = t.init;
    if (p.readExit() || !p.readPid() || processAlive(p.pid)) return;
    await Promise.race([p.waitExit(), new Promise((r) => setTimeout(r, 2000).unref())]);
    if (p.readExit()) return;
    this.opts.logger?.warn('task init gone without an exit status: recording 255', { namespace: t.namespace, id: t.id, pid: p.pid });
    writeJsonAtomic(path.join(p.dir, 'exit.json'), {
      pid: p.pid,
      exitStatus: 255,
      signal: 0,
      oomKilled: false,
      exitedAt: new Date().toISOString(),
    });
  }

  // --- helpers ---

  /** Connects containerd's stdio FIFOs, when the process was given any, to its shim. */
  private async bridge(p: ShimProcess): Promise<void> {
    const b = await FifoBridge.open(path.join(p.dir, 'attach.sock'), p.stdio).catch((err: Error) => {
      throw invalidArgument(`stdio FIFOs of "${p.execId || path.basename(p.dir)}": ${err.message}`);
    });
    if (b) this.bridges.set(p.dir, b);
  }

  private unbridge(dir: string): void {
    this.bridges.get(dir)?.close();
    this.bridges.delete(dir);
  }

  private watchInit(t: Task): void {
    t.init.watch((e) => this.announceExit(t, t.init, e, t.id));
  }

  private watchExec(t: Task, p: ShimProcess): void {
    p.watch((e) => this.announceExit(t, p, e, p.execId));
  }

  private announceExit(t: Task, p: ShimProcess, e: ExitStatus, id: string): void {
    if (this.closed || p.announced) return;
    if (p === t.init && t.starting) {
      t.pendingExit = () => this.announceExit(t, p, e, id);
      return;
    }
    if (e.oomKilled && !p.execId) this.publish(t.namespace, Topic.taskOOM, 'containerd.events.TaskOOM', { container_id: t.id });
    this.publish(t.namespace, Topic.taskExit, 'containerd.events.TaskExit', {
      container_id: t.id,
      id,
      pid: e.pid,
      exit_status: exitCode(e),
      exited_at: new Date(e.exitedAt),
    });
    try {
      p.markAnnounced();
    } catch {
      /* deleted meanwhile */
    }
  }

  private async initStatus(t: Task): Promise<TaskStatus> {
    if (t.init.readExit()) return 'STOPPED';
    try {
      const s = await t.runtime.state(t.id);
      if (s.pid) t.init.pid = s.pid;
      switch (s.status) {
        case 'creating':
        case 'created':
          return 'CREATED';
        case 'running':
          return 'RUNNING';
        case 'paused':
          return 'PAUSED';
        default:
          // The init has exited; the shim is about to write exit.json (it reaps, then writes).
          await Promise.race([t.init.waitExit(), new Promise((r) => setTimeout(r, 2000).unref())]);
          return t.init.readExit() ? 'STOPPED' : 'UNKNOWN';
      }
    } catch {
      return t.init.readExit() ? 'STOPPED' : 'UNKNOWN';
    }
  }

  private state(t: Task, p: ShimProcess, status: TaskStatus): ProcessState {
    const e = p.readExit();
    return {
      containerId: t.id,
      id: p.execId,
      pid: p.readPid(),
      status,
      stdin: p.stdio.stdin,
      stdout: p.stdio.stdout,
      stderr: p.stdio.stderr,
      terminal: p.stdio.terminal,
      exitStatus: e ? exitCode(e) : 0,
      ...(e ? { exitedAt: new Date(e.exitedAt) } : {}),
    };
  }

  private specOf(c: Container): Spec {
    if (!c.spec || !c.spec.value?.length) throw failedPrecondition(`container "${c.id}" has no spec`);
    if (c.spec.typeUrl !== SPEC_TYPE_URL && !c.spec.typeUrl.endsWith('/Spec'))
      throw invalidArgument(`container "${c.id}": spec of type ${c.spec.typeUrl} is not an OCI runtime spec`);
    try {
      return JSON.parse(c.spec.value.toString('utf8')) as Spec;
    } catch (err) {
      throw invalidArgument(`container "${c.id}": spec is not JSON: ${(err as Error).message}`);
    }
  }

  private removeBundle(bundle: string): void {
    const rootfs = path.join(bundle, 'rootfs');
    // Never recurse into a mounted rootfs: that would delete the snapshot's files.
    if (isMountPoint(rootfs)) throw new EngineError(ErrorKind.Internal, `bundle ${bundle}: rootfs is still mounted`);
    fs.rmSync(bundle, { recursive: true, force: true });
  }

  /**
   * The runtime of a namespace's containers that name `name` (a runc options' binary_name; ""
   * for ctl-runtime); FailedPrecondition when it is unknown or not installed.
   */
  private runtime(ns: string, name: string): Runtime {
    const key = `${validateNamespace(ns)}\0${name}`;
    let r = this.runtimes.get(key);
    if (!r) {
      let choice;
      try {
        choice = runtimeChoice(name);
      } catch (err) {
        throw failedPrecondition(`runtime of the container: ${(err as Error).message}`);
      }
      const native = choice.flavor === 'native';
      const root = native ? path.join(this.runtimeDir, ns) : path.join(path.dirname(this.runtimeDir), choice.name, ns);
      fs.mkdirSync(root, { recursive: true, mode: 0o700 });
      r = new Runtime({
        root,
        runtimeBinary: native ? (this.opts.runtimeBinary ?? choice.binary) : choice.binary,
        shimBinary: this.opts.shimBinary,
        flavor: choice.flavor,
      });
      this.runtimes.set(key, r);
    }
    return r;
  }

  private key(ns: string, id: string): string {
    return `${ns}\0${id}`;
  }

  private task(ns: string, id: string): Task {
    const t = this.tasks.get(this.key(ns, id));
    if (!t) throw notFound(`task "${id}" not found`);
    return t;
  }

  private proc(t: Task, execId: string): ShimProcess {
    const p = t.execs.get(execId);
    if (!p) throw notFound(`exec "${execId}" in task "${t.id}" not found`);
    return p;
  }

  /**
   * Publishes a task event written with containerd's field names (container_id, exit_status, …)
   * in the camelCase the publisher's codec encodes; snake_case keys would be dropped silently.
   */
  private publish(ns: string, topic: string, type: string, event: Record<string, unknown>): void {
    const fields = Object.fromEntries(
      Object.entries(event).map(([k, v]) => [k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()), v]),
    );
    try {
      this.opts.publisher.publish(ns, topic, type, fields);
    } catch (err) {
      this.opts.logger?.warn('publish failed', { topic, err: (err as Error).message });
    }
  }
}

/** The task manager of a containerd-lite instance, for the service assembly. */
export function createTaskManager(opts: TaskManagerOptions): Promise<TaskManager> {
  return TaskManager.open(opts);
}

export type { Mount };
