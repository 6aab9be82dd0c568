/**
 * A container's life after create: start, stop, kill, restart, wait and rm. Stop and kill tell
 * the daemon's restart supervisor the user stopped it; start clears that.
 */
import { ErrorKind, isKind } from '@ctl/proto/errors';
import { UsageError } from '../args';
import { parseOptions } from '../options';
import type { Command, CommandContext } from '../command';
import { type Clients, lite, withClients } from '../clients';
import { STOP_SIGNAL_LABEL, STOP_TIMEOUT_LABEL, eachContainer, ids, taskOf } from '../container/common';
import { signalNumber, signalNumbers } from '../signals';
import { foreground } from '../container/io';
import { hasExited, isPaused, isStartable } from '../container/status';

type Container = import('@ctl/containerd-lite/client').Container;

const start: Command = {
  summary: 'Start stopped or created containers',
  usage: 'Usage: ctl start [-a] CONTAINER...\n\n  -a, --attach   attach to output and wait (one container)\n',
  async run(argv, context) {
    const { values, positionals } = parseOptions(argv, { attach: { type: 'boolean', short: 'a' } });
    return withClients(context, async (a) => {
      let code = 0;
      for (const id of ids(positionals, 'start')) {
        try {
          await prepareStart(a, context, id);
          if (values.attach)
            return await foreground(context, a.tasks, id, {
              interactive: false,
              tty: false,
              socket: (await a.runner.inspect(id)).attachSocket,
            });
          await a.tasks.start(id);
          context.out(`${id}\n`);
        } catch (err) {
          context.err(`ctl start: ${id}: ${(err as Error).message}\n`);
          code = 1;
        }
      }
      return code;
    });
  },
};

/**
 * Makes a container ready to start: a created task stays; an exited one is deleted and, like a
 * container without a task, gets a new one on its snapshot. Clears the user's stop (restart
 * policies apply again).
 */
async function prepareStart(a: Clients, context: CommandContext, id: string): Promise<void> {
  const task = await taskOf(a.tasks, id);
  if (task && !isStartable(task)) throw new Error(`already ${task.status.toLowerCase()}`);
  const container = await a.containers.get(id);
  await markStoppedByUser(a, container, false);
  if (hasExited(task)) await a.tasks.delete(id);
  if (!task || hasExited(task)) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { SnapshotsClient } = require('@ctl/snapshotter/client') as typeof import('@ctl/snapshotter/client');
    const rootfs = await new SnapshotsClient(a.daemon.snapshotter, container.snapshotter).mounts(
      `${context.namespace}/${container.snapshotKey}`,
    );
    await a.tasks.create(id, { rootfs, terminal: false });
  }
}

/**
 * Tells the daemon's restart supervisor the user stopped the container (ctl stop, ctl kill), so
 * its restart policy does not bring it back; set before signalling. cleared by ctl start.
 */
async function markStoppedByUser(a: Clients, container: Container, stopped: boolean): Promise<void> {
  const { RestartLabel } = lite();
  if (!container.labels[RestartLabel.policy]) return;
  const labels: Record<string, string> = stopped ? { [RestartLabel.stoppedByUser]: 'true' } : {};
  const paths = [`labels.${RestartLabel.stoppedByUser}`];
  // A start by the user begins the count again (on-failure:N allows N more).
  if (!stopped) paths.push(`labels.${RestartLabel.count}`);
  await a.containers.update({ id: container.id, labels }, paths);
}

async function stopOne(a: Clients, id: string, timeoutSec: number | undefined): Promise<void> {
  const container = await a.containers.get(id);
  await markStoppedByUser(a, container, true);
  const task = await taskOf(a.tasks, id);
  if (!task || isStartable(task)) return;
  const signal = signalNumber(container.labels[STOP_SIGNAL_LABEL] ?? 'SIGTERM');
  const timeout = timeoutSec ?? Number(container.labels[STOP_TIMEOUT_LABEL] ?? 10);
  const exited = a.tasks.wait(id);
  if (isPaused(task)) await a.tasks.resume(id).catch(() => undefined);
  await a.tasks.kill(id, signal).catch((err: unknown) => {
    if (!isKind(err, ErrorKind.NotFound)) throw err;
  });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    exited.then(() => false),
    new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeout * 1000))),
  ]);
  clearTimeout(timer);
  if (timedOut) {
    await a.tasks.kill(id, signalNumbers().SIGKILL, { all: true }).catch((err: unknown) => {
      if (!isKind(err, ErrorKind.NotFound)) throw err;
    });
    await exited;
  }
}

/** stop's and restart's -t: seconds before SIGKILL; undefined for the container's own. */
function stopTimeout(value: string | undefined): number | undefined {
  const timeout = value !== undefined ? Number(value) : undefined;
  if (timeout !== undefined && !(timeout >= 0)) throw new UsageError(`-t ${value}: expected seconds`);
  return timeout;
}

const stop: Command = {
  summary: 'Stop running containers (stop signal, then SIGKILL after the timeout)',
  usage:
    "Usage: ctl stop [-t SECONDS] CONTAINER...\n\n  -t, --time N   seconds to wait before SIGKILL (default: the container's --stop-timeout, else 10)\n",
  async run(argv, context) {
    const { values, positionals } = parseOptions(argv, { time: { type: 'string', short: 't' } });
    const timeout = stopTimeout(values.time);
    return eachContainer(context, 'stop', positionals, async (a, id) => {
      await stopOne(a, id, timeout);
      context.out(`${id}\n`);
    });
  },
};

const kill: Command = {
  summary: 'Send a signal to running containers',
  usage: 'Usage: ctl kill [-s SIGNAL] CONTAINER...\n',
  async run(argv, context) {
    const { values, positionals } = parseOptions(argv, { signal: { type: 'string', short: 's' } });
    const signal = signalNumber(values.signal ?? 'KILL');
    return eachContainer(context, 'kill', positionals, async (a, id) => {
      const task = await taskOf(a.tasks, id);
      if (!task || hasExited(task)) throw new Error('is not running');
      await markStoppedByUser(a, await a.containers.get(id), true);
      await a.tasks.kill(id, signal);
      context.out(`${id}\n`);
    });
  },
};

const rm: Command = {
  summary: 'Remove containers',
  usage:
    'Usage: ctl rm [-f] [-v] CONTAINER...\n\n  -f, --force     kill a running container first\n  -v, --volumes   also remove its anonymous volumes (unless another container uses them)\n',
  async run(argv, context) {
    const { values, positionals } = parseOptions(argv, {
      force: { type: 'boolean', short: 'f' },
      volumes: { type: 'boolean', short: 'v' },
    });
    return eachContainer(context, 'rm', positionals, async (a, id) => {
      await a.runner.remove(id, Boolean(values.force), Boolean(values.volumes));
      context.out(`${id}\n`);
    });
  },
};

const wait: Command = {
  summary: 'Wait for containers to stop; print their exit codes',
  usage: 'Usage: ctl wait CONTAINER...\n',
  async run(argv, context) {
    const { positionals } = parseOptions(argv, {});
    return eachContainer(context, 'wait', positionals, async (a, id) => {
      const exit = await a.tasks.wait(id);
      context.out(`${exit.exitStatus}\n`);
    });
  },
};

const restart: Command = {
  summary: 'Restart containers (stop, then start)',
  usage:
    "Usage: ctl restart [-t SECONDS] CONTAINER...\n\n  -t, --time N   seconds to wait for the stop before SIGKILL (default: the container's --stop-timeout, else 10)\n",
  async run(argv, context) {
    const { values, positionals } = parseOptions(argv, { time: { type: 'string', short: 't' } });
    const timeout = stopTimeout(values.time);
    return eachContainer(context, 'restart', positionals, async (a, id) => {
      await stopOne(a, id, timeout);
      await prepareStart(a, context, id);
      await a.tasks.start(id);
      context.out(`${id}\n`);
    });
  },
};

export const commands: Record<string, Command> = { start, stop, kill, restart, wait, rm };
