/**
 * Finding the tasks an earlier daemon left (containerd's runtime v2 shim load). Shims detach
 * from the daemon (setsid, double fork), so a SIGKILL of the daemon leaves the containers
 * running: a task whose create did not finish (no task.json) is removed; the others are
 * watched again, and an exit recorded while nothing watched is published now (once:
 * exit.announced). The status of an init still alive (created, running, paused: the earlier
 * daemon's pauses are not known to this one) is the runtime's, read here once for the task's
 * life in this daemon (task.ts).
 */
import type { Logger } from '@ctl/proto';
import type { Runtime, State } from '@ctl/runtime-native';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type TaskDirs, type TaskJson, execsDir, readExecJson, readTaskJson, removeBundle, rootfsMounted, unmountRootfs } from './bundle';
import type { FifoBridges } from './fifo';
import { recordLostExit } from './lost-shim';
import { ShimProcess, type Stdio, processAlive } from './process';
import type { ShimManager } from './shim-manager';
import { Task } from './task';
import type { TaskEvents } from './task-events';

export interface ShimLoadDeps {
  dirs: TaskDirs;
  shims: ShimManager;
  bridges: FifoBridges;
  events: TaskEvents;
  logger?: Logger;
  /** Registers a task found again with the manager. */
  add(task: Task): void;
}

/**
 * The containers of each runtime root (a namespace's, per runtime), listed once for the whole
 * load: one runtime command per root rather than one per task.
 */
class RuntimeStates {
  private readonly lists = new Map<Runtime, Promise<Map<string, State>>>();

  constructor(private readonly logger?: Logger) {}

  /** The runtime's state of container id; undefined when it has none, or the list failed (logged). */
  async of(runtime: Runtime, id: string): Promise<State | undefined> {
    let list = this.lists.get(runtime);
    if (!list) {
      list = runtime.list().then(
        // runc prints null for an empty root
        (states) => new Map((states ?? []).map((s) => [s.id, s])),
        (err: Error) => {
          this.logger?.warn('runtime list at load failed: its tasks will ask the runtime at each status', {
            root: runtime.root,
            err: err.message,
          });
          return new Map<string, State>();
        },
      );
      this.lists.set(runtime, list);
    }
    return (await list).get(id);
  }
}

/** Loads every bundle under the tasks dir; one that fails is logged and left as it is. */
export async function loadTasks(deps: ShimLoadDeps): Promise<void> {
  const { tasksDir } = deps.dirs;
  if (!fs.existsSync(tasksDir)) return;
  const states = new RuntimeStates(deps.logger);
  for (const ns of fs.readdirSync(tasksDir)) {
    for (const id of fs.readdirSync(path.join(tasksDir, ns))) {
      await loadTask(deps, states, ns, id).catch((err: Error) =>
        deps.logger?.error('task not recovered', { namespace: ns, id, err: err.message }),
      );
    }
  }
}

async function loadTask(deps: ShimLoadDeps, states: RuntimeStates, ns: string, id: string): Promise<void> {
  const { logger, events, bridges } = deps;
  const bundle = deps.dirs.bundleDir(ns, id);
  let meta: TaskJson;
  try {
    meta = readTaskJson(bundle);
  } catch {
    // task.json is written before the runtime's create runs: no runtime has this container.
    logger?.warn('removing a task whose create did not finish', { namespace: ns, id });
    if (rootfsMounted(bundle)) await unmountRootfs(bundle).catch(() => undefined);
    if (!rootfsMounted(bundle)) removeBundle(bundle);
    return;
  }
  const runtime = deps.shims.runtime(ns, meta.runtime ?? '');
  const init = new ShimProcess('', bundle, path.join(bundle, 'init.pid'), meta, true);
  const task = new Task(ns, id, bundle, runtime, init, meta);
  if (!init.readExit()) task.adopt(await states.of(runtime, id));
  const execDir = execsDir(bundle);
  for (const execId of fs.existsSync(execDir) ? fs.readdirSync(execDir) : []) {
    const dir = path.join(execDir, execId);
    let stdio: Stdio;
    try {
      stdio = readExecJson(dir);
    } catch {
      fs.rmSync(dir, { recursive: true, force: true });
      continue;
    }
    const p = new ShimProcess(execId, dir, path.join(dir, 'exec.pid'), stdio, fs.existsSync(path.join(dir, 'exec.pid')));
    task.execs.set(execId, p);
    if (p.started) events.watchExec(task, p);
    if (p.started && !p.readExit()) await bridges.bridge(p).catch(() => undefined);
  }
  deps.add(task);
  events.watchInit(task);
  await reconcileLostShim(task, logger);
  if (!init.readExit()) {
    await bridges.bridge(init).catch((err) => logger?.warn('stdio FIFOs not reopened', { namespace: ns, id, err: (err as Error).message }));
  }
  logger?.info('task recovered', { namespace: ns, id, pid: init.pid, exited: !!init.exit });
}

/**
 * An init that is gone without an exit.json, held by a shim of an earlier version (no shim.pid,
 * so its watcher cannot tell that the shim is gone): give the shim a moment, then record the
 * exit as containerd does for a lost shim (255). With shim.pid the watcher settles it.
 */
async function reconcileLostShim(t: Task, logger?: Logger): Promise<void> {
  const p = t.init;
  if (p.shimGone() !== undefined || p.readExit() || !p.readPid() || processAlive(p.pid)) return;
  await Promise.race([p.waitExit(), new Promise((r) => setTimeout(r, 2000).unref())]);
  if (p.readExit()) return;
  logger?.warn('task init gone without an exit status: recording 255', { namespace: t.namespace, id: t.id, pid: p.pid });
  recordLostExit(p, 'shim disconnected');
}
