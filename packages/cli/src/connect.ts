/**
 * Reaching the daemon: one light wire client per service socket. When nothing answers and
 * autostart is on, `ctl daemon` is started in the background (detached, logging to a file
 * under the state dir) and the command goes on once it serves.
 */
// Light subpaths only: this module is on every daemon command's start-up path.
import { EngineError, ErrorKind, unavailable } from '@ctl/proto/errors';
import { ensureDir } from '@ctl/proto/fsutil';
import { type InstanceDirs, type ServiceName, daemonLogFile, serviceSocket } from '@ctl/proto/paths';
import { NotServingError, WireClient, wireMethod } from '@ctl/proto/wire';
import { connectSocket } from '@ctl/runtime-native/socket';
import type { HealthCheckRequest } from '@ctl/proto/generated/grpc/health/v1/HealthCheckRequest';
import type { HealthCheckResponse__Output } from '@ctl/proto/generated/grpc/health/v1/HealthCheckResponse';
import { closeSync, openSync, readFileSync } from 'node:fs';
import type { CommandContext } from './command';
import { DAEMON_NODE_FLAGS, daemonEnv } from './daemon-process';

export type Daemon = Record<ServiceName, WireClient> & { close(): void };

const READY_TIMEOUT_MS = 20_000;
const POLL_MS = 15;

const healthCheck = () =>
  wireMethod<HealthCheckRequest, HealthCheckResponse__Output>('grpc/health/v1/health', 'grpc.health.v1.Health', 'Check');

/** True when the service on this client answers SERVING; false when nothing answers. */
async function serving(client: WireClient): Promise<boolean> {
  try {
    const res = await client.unary(healthCheck(), { service: '' }, { timeoutMs: 2000 });
    return res.status === 'SERVING';
  } catch (err) {
    if (err instanceof EngineError && err.kind === ErrorKind.Unavailable) {
      client.close();
      return false;
    }
    throw err;
  }
}

function openClients(dirs: InstanceDirs): Daemon {
  const clients = {
    'containerd-lite': new WireClient(serviceSocket(dirs, 'containerd-lite'), connectSocket),
    snapshotter: new WireClient(serviceSocket(dirs, 'snapshotter'), connectSocket),
    netd: new WireClient(serviceSocket(dirs, 'netd'), connectSocket),
  };
  return { ...clients, close: () => Object.values(clients).forEach((c) => c.close()) };
}

function logTail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Starts `ctl daemon` detached from this process, with its output in the state dir's log. */
function startDaemon(context: CommandContext): { exited: () => number | null | undefined } {
  const { dirs } = context;
  ensureDir(dirs.state);
  const logFile = daemonLogFile(dirs);
  const log = openSync(logFile, 'a', 0o600);
  let exitCode: number | null | undefined;
  try {
    // Loaded here, not at the top: child_process (with dgram and net's socket list) costs every
    // command its compile time, and only the first command of a boot starts a daemon.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { spawn } = require('node:child_process') as typeof import('node:child_process');
    const child = spawn(process.execPath, [...DAEMON_NODE_FLAGS, context.entry, '--root', dirs.root, '--state', dirs.state, 'daemon'], {
      detached: true,
      stdio: ['ignore', log, log],
      env: daemonEnv(context.env),
    });
    child.on('exit', (code, signal) => {
      exitCode = code ?? (signal ? 128 : null);
    });
    child.unref();
  } finally {
    closeSync(log);
  }
  return { exited: () => exitCode };
}

/** Starts the daemon and waits until it serves; the clients are reconnected by their next call. */
async function startAndWait(context: CommandContext, daemon: Daemon): Promise<void> {
  const socket = serviceSocket(context.dirs, 'containerd-lite');
  const started = startDaemon(context);
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let exitedAt: number | undefined;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    if (await serving(daemon['containerd-lite'])) return;
    // A daemon that exits may have lost a race to another one starting at the same moment;
    // give that one a moment to answer before reporting the failure.
    if (started.exited() !== undefined) exitedAt ??= Date.now();
    if ((exitedAt !== undefined && Date.now() - exitedAt > 5000) || Date.now() > deadline) {
      const logFile = daemonLogFile(context.dirs);
      const why = exitedAt !== undefined ? `exited with code ${started.exited()}` : `did not answer within ${READY_TIMEOUT_MS / 1000} s`;
      throw unavailable(`the daemon started for ${socket} ${why}; last lines of ${logFile}:\n${logTail(logFile)}`);
    }
  }
}

/**
 * Runs fn with clients of this instance's daemon. When nothing answers (the request reached no
 * server, so running it again is safe), the daemon is started in the background, unless
 * autostart is off, and fn runs once more. No probe precedes fn: a running daemon costs the
 * command no extra round trip.
 */
export async function withDaemon<T>(context: CommandContext, fn: (daemon: Daemon) => Promise<T>): Promise<T> {
  const daemon = openClients(context.dirs);
  // Nearly every command's first call goes to containerd-lite: its connection is made while the
  // command loads the codecs of that call.
  daemon['containerd-lite'].warm();
  try {
    try {
      return await fn(daemon);
    } catch (err) {
      if (!(err instanceof NotServingError)) throw err;
      if (!context.autostart) {
        throw unavailable(
          `no daemon answers on ${serviceSocket(context.dirs, 'containerd-lite')} and autostart is off (start one with "ctl daemon")`,
        );
      }
      await startAndWait(context, daemon);
      return await fn(daemon);
    }
  } finally {
    daemon.close();
  }
}
