/**
 * The task states the container commands test, in one place. A container without a task
 * (undefined) has been created and not started, or its task was deleted.
 */
import { age } from '../format';

type ProcessState = import('@ctl/containerd-lite/client').ProcessState;
type Task = ProcessState | undefined;

export const isRunning = (task: Task): boolean => task?.status === 'RUNNING';
export const isPaused = (task: Task): boolean => task?.status === 'PAUSED';
export const hasExited = (task: Task): boolean => task?.status === 'STOPPED';
/** What ps lists without -a and attach attaches to: running or paused. */
export const isUp = (task: Task): boolean => isRunning(task) || isPaused(task);
/** Has processes (also while being paused): what top, stats and container prune count as running. */
export const hasProcesses = (task: Task): boolean => isUp(task) || task?.status === 'PAUSING';
/** No task, a created one or an exited one: start may start it, stop has nothing to stop. */
export const isStartable = (task: Task): boolean => !task || hasExited(task) || task.status === 'CREATED';

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
