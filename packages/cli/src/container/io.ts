/**
 * A task or exec in the foreground: its output and input through the shim's attach socket, our
 * terminal raw while it has one, its size and our signals passed on; what run, start -a, exec
 * and attach share.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { CommandContext } from '../command';
import { startFailure } from './common';
import { printLog } from './log-records';
import { signalNumbers } from '../signals';
import { traced } from '@ctl/proto/trace';
import { connectSocket } from '@ctl/runtime-native/socket';

type Tasks = import('@ctl/containerd-lite/client').Tasks;
type ExitResult = Awaited<ReturnType<Tasks['wait']>>;

interface Io {
  closed: Promise<void>;
  detach(): void;
}

/** Loads the attach client now, for a caller with time to spare before it attaches (ctl run). */
export function prepareAttach(): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('@ctl/runtime-native/attach');
}

/** Copies the shim's output to ours (and, with -i, our stdin to the process) until it closes. */
async function attach(socket: string, interactive: boolean, onStdinEnd: () => void): Promise<Io> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Attachment } = require('@ctl/runtime-native/attach') as typeof import('@ctl/runtime-native/attach');
  const a = await traced('cli.attach', () => Attachment.connect(socket, connectSocket));
  a.on('stdout', (chunk: Buffer) => process.stdout.write(chunk));
  a.on('stderr', (chunk: Buffer) => process.stderr.write(chunk));
  const closed = new Promise<void>((resolve) => a.once('close', resolve));
  const onData = (d: Buffer): void => a.write(d);
  const onEnd = (): void => void a.flushed().then(onStdinEnd);
  if (interactive) {
    process.stdin.on('data', onData);
    process.stdin.once('end', onEnd);
  }
  return {
    closed,
    detach: () => {
      if (interactive) {
        process.stdin.off('data', onData);
        process.stdin.off('end', onEnd);
        process.stdin.pause();
      }
      a.close();
    },
  };
}

/**
 * Our terminal in raw mode, as docker's (cfmakeraw): libuv's raw mode keeps output processing,
 * which would turn the container terminal's \r\n into \r\r\n; stty turns it off (Node has no
 * termios call). setRawMode(false) restores the whole original state.
 */
function rawTerminal(): void {
  process.stdin.setRawMode(true);
  // loaded here: child_process costs every command its compile time, and only -t needs it
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
  spawnSync('stty', ['-opost'], { stdio: ['inherit', 'ignore', 'ignore'] });
}

/**
 * Runs a created task (or exec) in the foreground, or (running) follows one that runs already:
 * output, stdin, signals, terminal size; resolves with its exit code. An init's shim is there
 * before Start, so we attach first; an exec's shim starts with the process, so we attach right
 * after Start (the shim keeps what the process wrote before that for us) and read its log if
 * it is gone already.
 */
export async function foreground(
  context: CommandContext,
  tasks: Tasks,
  id: string,
  o: {
    interactive: boolean;
    tty: boolean;
    socket: string;
    execId?: string;
    execLog?: string;
    running?: boolean;
    /** Run once the exit is known, beside the drain of the last output (ctl run --rm's removal). */
    onExit?: () => Promise<void>;
  },
): Promise<number> {
  const execId = o.execId ?? '';
  const connect = (): Promise<Io> => attach(o.socket, o.interactive, () => void tasks.closeIO(id, execId).catch(() => undefined));
  let io = execId ? undefined : await connect();
  const raw = o.tty && process.stdin.isTTY;
  if (raw) rawTerminal();
  const resize = (): void => {
    if (process.stdout.columns) void tasks.resizePty(id, execId, process.stdout.columns, process.stdout.rows).catch(() => undefined);
  };
  const forward = (signal: NodeJS.Signals): void => void tasks.kill(id, signalNumbers()[signal]!, { execId }).catch(() => undefined);
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
  let exited: Promise<ExitResult> | undefined;
  try {
    try {
      if (!o.running) {
        // Wait goes out with Start, not a round trip after it: a created task's Wait waits for
        // its exit; a Start that fails leaves nothing to wait for, so that Wait is cancelled.
        const starting = tasks.start(id, execId);
        const abandon = new AbortController();
        exited = tasks.wait(id, execId, abandon.signal);
        exited.catch(() => undefined);
        await starting.catch((err: unknown) => {
          abandon.abort();
          throw err;
        });
      }
    } catch (err) {
      context.err(`ctl${execId ? ' exec' : ''}: ${(err as Error).message}\n`);
      return startFailure(err);
    }
    if (!io) io = await connect().catch(() => undefined);
    if (o.tty) {
      resize();
      process.stdout.on('resize', resize);
    }
    if (!raw) for (const s of signals) process.on(s, forward);
    const exit = await (exited ?? tasks.wait(id, execId));
    // The shim has sent all output before the exit is known (see below), so what follows the
    // exit (a removal) need not wait for our reading of it.
    const after = o.onExit?.();
    if (io) {
      // The exit status can come before the last output: the shim sends all of it, then exits,
      // which closes the socket; so the end of the stream, not a timer, says everything is here.
      await traced('cli.output-drain', () => io!.closed);
    } else if (o.execLog && existsSync(o.execLog)) {
      printLog(readFileSync(o.execLog, 'utf8'), {});
    }
    await after;
    return exit.exitStatus;
  } finally {
    for (const s of signals) process.off(s, forward);
    if (o.tty) process.stdout.off('resize', resize);
    if (raw) process.stdin.setRawMode(false);
    io?.detach();
  }
}
