/**
 * A task's status and what may be done to it in each, in one table: the TypeScript side of the
 * runtime's own table (packages/runtime-native/src/native/state.c), at the level of containerd's
 * tasks API. Light (no imports) so that the CLI's bundle can use it as '@ctl/proto/task-status'.
 */

/** containerd's task status enum (api/types/task Status), by name as on the wire, in enum order. */
export const TASK_STATUSES = ['UNKNOWN', 'CREATED', 'RUNNING', 'STOPPED', 'PAUSED', 'PAUSING'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** What a client may ask of a task's init (delete: of the task; update: of its resources). */
export type TaskVerb = 'start' | 'kill' | 'pause' | 'resume' | 'exec' | 'delete' | 'update';

/**
 * Which statuses allow each verb. Where it differs from state.c the reason is containerd's task
 * view: pause only what runs (a created init has changed nothing yet); resume also a freeze in
 * progress; delete also UNKNOWN (nothing we know of runs; the runtime's delete is forced).
 */
const ALLOWED: Readonly<Record<TaskVerb, readonly TaskStatus[]>> = {
  start: ['CREATED'],
  kill: ['CREATED', 'RUNNING', 'PAUSED', 'PAUSING'],
  pause: ['RUNNING'],
  resume: ['PAUSED', 'PAUSING'],
  exec: ['CREATED', 'RUNNING'],
  delete: ['UNKNOWN', 'CREATED', 'STOPPED'],
  update: ['CREATED', 'RUNNING', 'PAUSED', 'PAUSING'],
};

/** Whether a task in `status` may be asked to `verb`. */
export function allows(status: TaskStatus, verb: TaskVerb): boolean {
  return ALLOWED[verb].includes(status);
}

/** The user's process has started and not exited (running, or frozen): it must be stopped before the task goes. */
export function isActive(status: TaskStatus): boolean {
  return status === 'RUNNING' || status === 'PAUSED' || status === 'PAUSING';
}

/** The init has exited and its exit status is recorded. */
export function hasExited(status: TaskStatus): boolean {
  return status === 'STOPPED';
}

/**
 * The task status of an OCI runtime state's status (`ctl-runtime state`, runc's): undefined for
 * "stopped" and anything unknown, where the caller looks for the exit the shim records.
 */
export function statusOfRuntime(ociStatus: string): TaskStatus | undefined {
  switch (ociStatus) {
    case 'creating':
    case 'created':
      return 'CREATED';
    case 'running':
      return 'RUNNING';
    case 'paused':
      return 'PAUSED';
    default:
      return undefined;
  }
}
