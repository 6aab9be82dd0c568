/**
 * The tasks' events (containerd.events.Task*) and the exits that cause /tasks/exit: every
 * process's exit.json (its shim's, or 255 for a lost shim) is announced once (the exit.announced marker holds across restarts), and
 * an init's exit never before its /tasks/start.
 */
import type { Logger } from '@ctl/proto';
import { traceSpan, tracing } from '@ctl/proto/trace';
import type { ExitStatus } from '@ctl/runtime-native';
import { type Publisher, Topic } from '../events/events';
import { settleLostShim } from './lost-shim';
import { type ShimProcess, exitCode } from './process';
import type { Task } from './task';

export class TaskEvents {
  private closed = false;

  constructor(
    private readonly publisher: Publisher,
    private readonly logger?: Logger,
  ) {}

  /**
   * Publishes a task event written with containerd's field names (container_id, exit_status, …)
   * in the camelCase the publisher's codec encodes; snake_case keys would be dropped silently.
   */
  publish(ns: string, topic: string, type: string, event: Record<string, unknown>): void {
    const fields = Object.fromEntries(
      Object.entries(event).map(([k, v]) => [k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()), v]),
    );
    try {
      this.publisher.publish(ns, topic, type, fields);
    } catch (err) {
      this.logger?.warn('publish failed', { topic, err: (err as Error).message });
    }
  }

  /** Announces the init's exit when its shim records it, or when the shim is lost (lost-shim.ts). */
  watchInit(t: Task): void {
    t.init.watch(
      (e) => {
        // how long after the shim recorded the exit this daemon noticed it
        if (tracing) traceSpan('task.exit-seen', Date.parse(e.exitedAt));
        this.announceExit(t, t.init, e, t.id);
      },
      () => settleLostShim(t, t.init, this.logger),
    );
  }

  watchExec(t: Task, p: ShimProcess): void {
    p.watch(
      (e) => this.announceExit(t, p, e, p.execId),
      () => settleLostShim(t, p, this.logger),
    );
  }

  /** Announces no more exits: a later manager announces those it finds (the processes keep running). */
  close(): void {
    this.closed = true;
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
}
