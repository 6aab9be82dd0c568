/**
 * The restart supervisor: Docker's restart manager, in the daemon. It follows /tasks/exit of
 * init processes on the event exchange (in-process), reads the container's labels (policy.ts)
 * and, when the policy says so, after a back-off (100 ms doubling per consecutive restart, at
 * most 1 min; reset by a run of 10 s or more), deletes the stopped task, creates a new one on
 * the container's snapshot and starts it, counting the restart in `ctl.restart-count`.
 *
 * Races: all that the supervisor does to one container runs in a per-container queue, and the
 * container's removal (Runner.remove) runs in the same queue through `exclusive`, which first
 * cancels a pending restart; so `rm -f` always wins. A container gone meanwhile (NotFound) ends
 * the matter quietly. A user's `ctl stop`/`ctl kill` sets `ctl.stopped-by-user` before it gets
 * the task and signals; the label is read again inside the task's start (`TaskManager.start`'s
 * `unless`), so either no start happens or the stop's Get waits for it and signals the task.
 *
 * Daemon start: the task manager publishes the exits it finds while it opens, before anyone
 * subscribes; so `start` scans the containers that have a policy and treats a STOPPED task as
 * an exit that just happened. As Docker does, a daemon start also brings back an `always`
 * container the user stopped (its user-stop mark is cleared); `unless-stopped` ones stay stopped.
 */
import { ErrorKind, isKind, type Logger } from '@ctl/proto';
import { hasExited } from '@ctl/proto/task-status';
import type { Mount } from '@ctl/runtime-native/mount';
import type { Container, Containers } from '../containers/containers';
import { decodeEvent } from '../events/codec';
import { type Envelope, Topic } from '../events/events';
import type { Exchange } from '../events/exchange';
import { snapshotName } from '../gc/mark';
import { KeyedQueue } from '@ctl/proto/keyed-queue';
import type { TaskManager } from '../tasks/manager';
import {
  BACKOFF_RESET_AFTER_MS,
  RestartLabel,
  autoRemoves,
  backoffDelay,
  policyOf,
  restartCountOf,
  shouldRestart,
  stoppedByUser,
} from './policy';

export interface SupervisorDeps {
  events: Exchange;
  containers: (ns: string) => Containers;
  /** The namespaces to scan at start. */
  namespaces: () => Promise<string[]>;
  tasks: TaskManager;
  /** The mounts of a snapshot (its full key, `<ns>/<key>`) of this snapshotter. */
  mounts: (snapshotter: string, key: string) => Promise<Mount[]>;
  /** Removes a container whose labels ask for it once its task has exited (autoRemoves; the runner's remove). */
  remove?: (ns: string, id: string) => Promise<void>;
  logger?: Logger;
}

interface Tracked {
  /** consecutive restarts without a run of BACKOFF_RESET_AFTER_MS */
  consecutive: number;
  startedAt?: number;
  timer?: NodeJS.Timeout;
}

const notFound = (err: unknown): boolean => isKind(err, ErrorKind.NotFound);

export class RestartSupervisor {
  private readonly queue = new KeyedQueue();
  private readonly tracked = new Map<string, Tracked>();
  /** Containers being removed: no restart is scheduled for them. */
  private readonly removing = new Set<string>();
  private readonly abort = new AbortController();

  constructor(private readonly deps: SupervisorDeps) {}

  /** Follows exits from now on, then restarts (or removes) what exited while the daemon was down. */
  start(): void {
    const events = this.deps.events.subscribe([`topic=="${Topic.taskExit}"`, `topic=="${Topic.taskStart}"`], this.abort.signal);
    void this.follow(events).catch((err: Error) =>
      this.deps.logger?.error('restart supervisor stopped following exits', { err: err.message }),
    );
    void this.recover().catch((err: Error) => this.deps.logger?.error('restart recovery failed', { err: err.message }));
  }

  close(): void {
    this.abort.abort();
    for (const t of this.tracked.values()) clearTimeout(t.timer);
    this.tracked.clear();
  }

  /**
   * Runs fn (the container's removal) with no restart pending or in progress, and none
   * scheduled while it runs.
   */
  async exclusive<T>(ns: string, id: string, fn: () => Promise<T>): Promise<T> {
    const key = this.key(ns, id);
    this.removing.add(key);
    this.cancel(key);
    try {
      return await this.queue.run(key, fn);
    } finally {
      this.removing.delete(key);
      this.cancel(key);
      this.tracked.delete(key);
    }
  }

  private async follow(events: AsyncIterable<Envelope>): Promise<void> {
    for await (const e of events) {
      try {
        const { fields } = decodeEvent(e.event);
        const id = fields.containerId as string;
        if (!id) continue;
        if (e.topic === Topic.taskStart) {
          this.track(this.key(e.namespace, id)).startedAt = Date.now();
          continue;
        }
        // An exec's exit is not the container's.
        if (fields.id !== id) continue;
        const exitedAt = fields.exitedAt instanceof Date ? fields.exitedAt.getTime() : Date.now();
        this.exited(e.namespace, id, Number(fields.exitStatus ?? 0), exitedAt);
      } catch (err) {
        this.deps.logger?.warn('restart supervisor: event not understood', { topic: e.topic, err: (err as Error).message });
      }
    }
  }

  private async recover(): Promise<void> {
    for (const ns of await this.deps.namespaces()) {
      for (const c of await this.deps.containers(ns).list()) {
        if (policyOf(c.labels).name === 'no' && !autoRemoves(c.labels)) continue;
        const state = await this.deps.tasks.get(ns, c.id).catch(() => undefined);
        if (!state || !hasExited(state.status)) continue;
        if (policyOf(c.labels).name === 'always' && stoppedByUser(c.labels)) {
          await this.deps
            .containers(ns)
            .update({ id: c.id, labels: {} }, [`labels.${RestartLabel.stoppedByUser}`])
            .catch((err: unknown) => (notFound(err) ? undefined : Promise.reject(err)));
        }
        this.exited(ns, c.id, state.exitStatus, state.exitedAt?.getTime() ?? Date.now());
      }
    }
  }

  /** An init exited: schedules its restart when the policy says so, or its removal when its labels ask. */
  private exited(ns: string, id: string, exitStatus: number, exitedAt: number): void {
    const key = this.key(ns, id);
    if (this.removing.has(key) || this.abort.signal.aborted) return;
    let remove = false;
    void this.queue
      .run(key, async () => {
        const container = await this.deps
          .containers(ns)
          .get(id)
          .catch((err: unknown) => (notFound(err) ? undefined : Promise.reject(err)));
        // After this queue's turn: the removal takes the container's queue itself (exclusive).
        if (container && autoRemoves(container.labels)) remove = Boolean(this.deps.remove);
        if (!container || !shouldRestart(container.labels, exitStatus) || this.removing.has(key)) return;
        const t = this.track(key);
        if (t.timer) return; // already scheduled
        if (t.startedAt !== undefined && exitedAt - t.startedAt >= BACKOFF_RESET_AFTER_MS) t.consecutive = 0;
        t.consecutive++;
        const delayMs = backoffDelay(t.consecutive);
        const attempt = restartCountOf(container.labels) + 1;
        this.deps.logger?.info('restarting container', {
          namespace: ns,
          id,
          exitStatus,
          attempt,
          delayMs,
          policy: policyOf(container.labels).name,
        });
        t.timer = setTimeout(() => {
          t.timer = undefined;
          void this.queue
            .run(key, () => this.restart(ns, id, exitStatus))
            .catch((err: Error) => {
              this.deps.logger?.error('container restart failed', { namespace: ns, id, err: err.message });
            });
        }, delayMs);
      })
      .then(async () => {
        if (!remove || this.removing.has(key) || this.abort.signal.aborted) return;
        await this.deps.remove!(ns, id).catch((err: unknown) => {
          if (!notFound(err)) throw err;
        });
      })
      .catch((err: Error) => this.deps.logger?.error('restart supervisor', { namespace: ns, id, err: err.message }));
  }

  /** In the container's queue: the stopped task out, a new one on the same snapshot, started. */
  private async restart(ns: string, id: string, exitStatus: number): Promise<void> {
    const key = this.key(ns, id);
    if (this.removing.has(key) || this.abort.signal.aborted) return;
    const containers = this.deps.containers(ns);
    let container: Container;
    try {
      container = await containers.get(id);
    } catch (err) {
      if (notFound(err)) return;
      throw err;
    }
    if (!shouldRestart(container.labels, exitStatus)) return;
    const { tasks } = this.deps;
    const state = await tasks.get(ns, id).catch((err: unknown) => (notFound(err) ? undefined : Promise.reject(err)));
    // Someone else (ctl start) has started it again meanwhile.
    if (state && !hasExited(state.status)) return;
    if (state) await tasks.delete(ns, id).catch((err: unknown) => (notFound(err) ? undefined : Promise.reject(err)));
    if (!container.snapshotKey) throw new Error(`container "${id}" has no snapshot to restart on`);
    const rootfs = await this.deps.mounts(container.snapshotter, snapshotName(ns, container.snapshotKey));
    try {
      await tasks.create(ns, id, { rootfs, terminal: state?.terminal ?? false });
    } catch (err) {
      if (notFound(err)) return;
      throw err;
    }
    // Counted before it starts, so the start's exit always sees the new count.
    let current: Container | undefined;
    try {
      current = await containers.update({ id, labels: { [RestartLabel.count]: String(restartCountOf(container.labels) + 1) } }, [
        `labels.${RestartLabel.count}`,
      ]);
    } catch (err) {
      if (!notFound(err)) throw err;
    }
    if (!current || this.removing.has(key)) {
      // Removed while the task was being made.
      await tasks.delete(ns, id).catch(() => undefined);
      return;
    }
    // Asked in the task's queue: a ctl stop that set its label before finds no start, one that
    // set it after finds the task running (its Get waits for the start) and signals it.
    const stopped = async (): Promise<boolean> => {
      const now = await containers.get(id).catch(() => undefined);
      return !now || this.removing.has(key) || stoppedByUser(now.labels);
    };
    if ((await tasks.start(ns, id, '', stopped)).skipped) {
      // Stopped by the user while the task was being made: its init dies before it runs the
      // command, and the container is left as a stop leaves one, with a stopped task (deleting
      // it would leave no task at all, which reads as a container never started: "created").
      await tasks.kill(ns, id, 9, { all: true }).catch(() => undefined);
    }
  }

  private track(key: string): Tracked {
    let t = this.tracked.get(key);
    if (!t) {
      t = { consecutive: 0 };
      this.tracked.set(key, t);
    }
    return t;
  }

  private cancel(key: string): void {
    const t = this.tracked.get(key);
    if (t?.timer) {
      clearTimeout(t.timer);
      t.timer = undefined;
    }
  }

  private key(ns: string, id: string): string {
    return `${ns}\0${id}`;
  }
}
