/**
 * What the container commands share: docker's exit codes, the stop labels, finding a
 * container's task, reporting per container, and reading a container's spec.
 */
import { ErrorKind, ErrorReason, isKind } from '@ctl/proto/errors';
import { NotServingError } from '@ctl/proto/wire';
import { UsageError } from '../args';
import type { CommandContext } from '../command';
import { type Clients, lite, withClients } from '../clients';

type Tasks = import('@ctl/containerd-lite/client').Tasks;
type Container = import('@ctl/containerd-lite/client').Container;
type ProcessState = import('@ctl/containerd-lite/client').ProcessState;

/** Docker's exit codes for what is not the container's own: the engine failed, the command could not be run or found. */
export const ENGINE_FAILED = 125;
export const CANNOT_INVOKE = 126;
export const NOT_FOUND = 127;

export const STOP_SIGNAL_LABEL = 'ctl.stop-signal';
export const STOP_TIMEOUT_LABEL = 'ctl.stop-timeout';

export async function taskOf(tasks: Tasks, id: string): Promise<ProcessState | undefined> {
  try {
    return await tasks.get(id);
  } catch (err) {
    if (isKind(err, ErrorKind.NotFound)) return undefined;
    throw err;
  }
}

/**
 * The exit code docker gives when the runtime could not start the command: by the reason the
 * daemon tags the failure with (never its message text); anything else is the engine's 125.
 */
export function startFailure(err: unknown): number {
  const reason = (err as { reason?: string }).reason;
  if (reason === ErrorReason.CommandNotFound) return NOT_FOUND;
  if (reason === ErrorReason.CommandNotExecutable) return CANNOT_INVOKE;
  return ENGINE_FAILED;
}

/** docker's check before it attaches a terminal: input (-i) on a terminal (-t) needs our stdin to be one. */
export function checkTty(interactive: boolean, tty: boolean): void {
  if (interactive && tty && !process.stdin.isTTY) throw new Error('the input device is not a TTY');
}

export function ids(positionals: string[], verb: string): string[] {
  if (positionals.length === 0) throw new UsageError(`${verb} needs at least one CONTAINER`);
  return positionals;
}

/**
 * Runs fn for each container; errors are reported per container and make the exit code 1.
 * No daemon answering the first one goes to withDaemon, which starts one and runs all again.
 */
export async function each(context: CommandContext, verb: string, list: string[], fn: (id: string) => Promise<void>): Promise<number> {
  let code = 0;
  for (const [i, id] of list.entries()) {
    try {
      await fn(id);
    } catch (err) {
      if (i === 0 && err instanceof NotServingError) throw err;
      context.err(`ctl ${verb}: ${id}: ${(err as Error).message}\n`);
      code = 1;
    }
  }
  return code;
}

/**
 * The body of the verbs that act on each named container (stop, kill, rm, wait, restart, pause,
 * unpause): the clients, then fn per container, reported as each() does.
 */
export function eachContainer(
  context: CommandContext,
  verb: string,
  positionals: string[],
  fn: (a: Clients, id: string) => Promise<void>,
): Promise<number> {
  const list = ids(positionals, verb);
  return withClients(context, (a) => each(context, verb, list, (id) => fn(a, id)));
}

export type ContainerProcess = {
  args?: string[];
  env?: string[];
  cwd?: string;
  user?: { uid: number; gid: number; additionalGids?: number[] };
};

/** The container's spec (its process and root are read here); {} when there is none. */
export const specOf = (c: Container): { process?: ContainerProcess; root?: { path?: string } } =>
  lite().specOf<{ process?: ContainerProcess; root?: { path?: string } }>(c) ?? {};
