/**
 * The task states the container commands test, in one place, read off the engine's status
 * table (@ctl/proto/task-status) that the daemon's task manager uses too. A container without a
 * task (undefined) has been created and not started, or its task was deleted.
 */
import { allows, hasExited as exited, isActive } from '@ctl/proto/task-status';
import { age } from '../format';

type ProcessState = import('@ctl/containerd-lite/client').ProcessState;
type Task = ProcessState | undefined;

/** Docker's State.Running, and what exec needs (docker refuses exec in a created container). */
export const isRunning = (task: Task): boolean => task?.status === 'RUNNING';
export const isPaused = (task: Task): boolean => task?.status === 'PAUSED';
export const hasExited = (task: Task): boolean => !!task && exited(task.status);
/** Has processes (also while being paused): what ps lists without -a, attach, top, stats and container prune count. */
export const hasProcesses = (task: Task): boolean => !!task && isActive(task.status);
/** What pause and unpause may act on. */
export const canPause = (task: Task): boolean => !!task && allows(task.status, 'pause');
export const canResume = (task: Task): boolean => !!task && allows(task.status, 'resume');
/** No task, a created one or an exited one: start may start it (anew), stop has nothing to stop. */
export const isStartable = (task: Task): boolean => !task || hasExited(task) || allows(task.status, 'start');

/** The STATUS column of ctl ps, as docker prints it. */
export function statusText(task: Task): string {
  if (!task) return 'Created';
  switch (task.status) {
    case 'RUNNING':
      return 'Up';
    case 'PAUSED':
      return 'Up (Paused)';
    case 'CREATED':
      return 'Created';
    case 'STOPPED':
      return `Exited (${task.exitStatus})${task.exitedAt ? ` ${age(task.exitedAt)} ago` : ''}`;
    default:
      return task.status;
  }
}
