/**
 * One task: the init a shim holds and the processes exec'd into it (containerd's runtime v2
 * shim task), with the status of each as the Tasks API reports it.
 *
 * The init's status comes from what the daemon knows, as containerd's shim keeps its process's
 * state in memory rather than asking runc: an exit.json says STOPPED; otherwise the status the
 * daemon's own create, start, pause and resume moved the init to (read from the runtime once
 * when a restarted daemon loads the task). Get and List, on every `ctl ps` and `ctl inspect`,
 * then run no runtime command. The runtime is asked only where the daemon cannot tell: after a
 * verb that failed part way, and when the init is gone but its exit is not recorded yet.
 */
import { notFound } from '@ctl/proto/errors';
import { statusOfRuntime } from '@ctl/proto/task-status';
import type { Runtime, State } from '@ctl/runtime-native';
import type { TaskJson } from './bundle';
import { type ShimProcess, exitCode, processStartTime } from './process';
import type { ProcessState, TaskStatus } from './tasks';

/** The statuses of an init that has not exited, the ones the daemon's verbs move it between. */
export type LiveStatus = 'CREATED' | 'RUNNING' | 'PAUSED';

function liveStatusOf(state: State): LiveStatus | undefined {
  const status = statusOfRuntime(state.status);
  return status === 'CREATED' || status === 'RUNNING' || status === 'PAUSED' ? status : undefined;
}

export class Task {
  readonly execs = new Map<string, ShimProcess>();
  /** While Start runs, the init's exit waits to be announced after /tasks/start. */
  starting = false;
  pendingExit?: () => void;
  /** Where the daemon's verbs left the init (see the header); undefined: the runtime is asked. */
  private tracked?: LiveStatus;
  /** The init's start time in /proc when it was first tracked, so that a reused pid is not taken for it. */
  private initStartTime?: string;
  constructor(
    readonly namespace: string,
    readonly id: string,
    readonly bundle: string,
    readonly runtime: Runtime,
    readonly init: ShimProcess,
    readonly meta: TaskJson,
  ) {}

  /** An exec process; NotFound when there is none of that id. */
  exec(execId: string): ShimProcess {
    const p = this.execs.get(execId);
    if (!p) throw notFound(`exec "${execId}" in task "${this.id}" not found`);
    return p;
  }

  /** The init for "", else the exec. */
  process(execId: string): ShimProcess {
    return execId ? this.exec(execId) : this.init;
  }

  /** The init's status: exit.json; else where the daemon's verbs left it; else the runtime's state. */
  async initStatus(): Promise<TaskStatus> {
    if (this.init.readExit()) return 'STOPPED';
    if (this.tracked && this.initLives()) return this.tracked;
    return this.runtimeStatus();
  }

  /** A verb of the daemon (create, start, pause, resume) has moved the init to this status. */
  movedTo(status: LiveStatus): void {
    this.tracked = status;
    // Once per task: the pid is the init's for its whole life.
    this.initStartTime ??= this.init.pid > 0 ? processStartTime(this.init.pid) : undefined;
  }

  /**
   * What the runtime says of the init, taken as its status from now on (a restarted daemon's load
   * of the task, a verb that failed), unless the runtime may still be on its way from `unsettled`:
   * a freeze or thaw that timed out goes on in the kernel (cgroup.freeze stays written), so
   * after a failed pause "running", or after a failed resume "paused", may not last. Then, and
   * when the runtime knows no live init, the runtime is asked again at each status.
   */
  adopt(state: State | undefined, unsettled?: LiveStatus): void {
    if (state?.pid) this.keepPid(state.pid);
    const status = state && liveStatusOf(state);
    if (status && status !== unsettled) this.movedTo(status);
    else this.tracked = undefined;
  }

  /** adopt() of the runtime's state now; a runtime that cannot say leaves the status to be asked again. */
  async resync(unsettled?: LiveStatus): Promise<void> {
    this.adopt(await this.runtime.state(this.id).catch(() => undefined), unsettled);
  }

  /**
   * Whether the init is still the live process that the daemon's status is about: neither gone
   * nor a zombie (it has exited, and its shim is about to write exit.json, or was lost), and not
   * a reused pid (its start time is the one seen when it was tracked).
   */
  private initLives(): boolean {
    return this.initStartTime !== undefined && processStartTime(this.init.pid) === this.initStartTime;
  }

  /** The init's pid as the runtime has it (the one of record after a restart with an old pid file). */
  private keepPid(pid: number): void {
    if (pid === this.init.pid) return;
    this.init.pid = pid;
    this.initStartTime = undefined;
  }

  /** The runtime's word, where the daemon's own is not enough. */
  private async runtimeStatus(): Promise<TaskStatus> {
    try {
      const s = await this.runtime.state(this.id);
      if (s.pid) this.keepPid(s.pid);
      const status = statusOfRuntime(s.status);
      if (status) return status;
    } catch {
      // No runtime state: the container of a lost shim was just deleted (lost-shim.ts).
    }
    // The init has exited; its shim (or, for a lost shim, the watcher) is about to write exit.json.
    await Promise.race([this.init.waitExit(), new Promise((r) => setTimeout(r, 2000).unref())]);
    return this.init.readExit() ? 'STOPPED' : 'UNKNOWN';
  }

  /** An exec's status: from its files alone (its shim records the exit). */
  execStatus(p: ShimProcess): TaskStatus {
    return p.readExit() ? 'STOPPED' : p.started ? 'RUNNING' : 'CREATED';
  }

  state(p: ShimProcess, status: TaskStatus): ProcessState {
    const e = p.readExit();
    return {
      containerId: this.id,
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
}
