/**
 * One task: the init a shim holds and the processes exec'd into it (containerd's runtime v2
 * shim task), with the status of each as the Tasks API reports it.
 */
import { notFound } from '@ctl/proto/errors';
import { statusOfRuntime } from '@ctl/proto/task-status';
import type { Runtime } from '@ctl/runtime-native';
import type { TaskJson } from './bundle';
import { type ShimProcess, exitCode } from './process';
import type { ProcessState, TaskStatus } from './tasks';

export class Task {
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

  /** The init's status: exit.json, else the runtime's state. */
  async initStatus(): Promise<TaskStatus> {
    if (this.init.readExit()) return 'STOPPED';
    try {
      const s = await this.runtime.state(this.id);
      if (s.pid) this.init.pid = s.pid;
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
