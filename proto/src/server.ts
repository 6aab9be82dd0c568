/**
 * Serving the contracts on unix sockets: one socket per service, mode 0600, held under a lock
 * only root can take (`<socket>.lock`), a live daemon's socket never stolen and a stale one
 * replaced, health and version answered for every service, and a graceful shutdown (stop
 * accepting, finish in-flight calls, close the database, remove the socket file).
 */
import type * as grpc from '@grpc/grpc-js';
import { accessSync, chmodSync, closeSync, constants, fchmodSync, fstatSync, lstatSync, openSync, statSync, unlinkSync } from 'node:fs';
import { ensureDir } from './fsutil';
import * as net from 'node:net';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';
import { serviceDefinition } from './contracts';
import { type LocalAnswer, serveLocally, stopServingLocally } from './local-calls';
import { EngineError, ErrorKind, alreadyExists, failedPrecondition, invalidArgument } from './errors';
import type { HealthCheckRequest__Output } from './generated/grpc/health/v1/HealthCheckRequest';
import type { HealthCheckResponse } from './generated/grpc/health/v1/HealthCheckResponse';
import type { Logger } from './logger';
import type { InstanceDirs, ServiceName } from './paths';
import { REASON_TRAILER, toGrpcStatus } from './status';
import { traceNow, traceSpan, tracing } from './trace';

export interface ServiceRegistration {
  definition: grpc.ServiceDefinition;
  implementation: grpc.UntypedServiceImplementation;
}

/** What a service package hands to the server: its gRPC services and how to close its stores. */
export interface ServiceParts {
  name: ServiceName;
  registrations: ServiceRegistration[];
  /**
   * Called when shutdown starts, before in-flight calls are awaited: ends calls that would
   * otherwise stream forever (event subscriptions), so shutdown need not wait out its grace.
   */
  endStreams?(): void;
  close(): Promise<void>;
}

export interface ServiceContext {
  dirs: InstanceDirs;
  logger: Logger;
}

export type ServiceFactory = (context: ServiceContext) => Promise<ServiceParts>;

export interface ServerHandle {
  readonly name: ServiceName;
  readonly socket: string;
  /** Stops accepting, waits up to graceMs for in-flight calls, closes the stores, removes the socket. */
  shutdown(graceMs?: number): Promise<void>;
}

export interface BuildInfo {
  version: string;
  revision: string;
}

export function buildInfo(): BuildInfo {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('./build-info.json') as BuildInfo;
}

/** Makes a handler's thrown error (or rejected promise) the gRPC status of its call. */
export function unaryHandler<Req, Res>(
  fn: (request: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    fn(call.request, call).then(
      (response) => callback(null, response),
      (err: unknown) => callback(toServiceError(err)),
    );
  };
}

export function toServiceError(err: unknown): Partial<grpc.StatusObject> {
  const { code, details, reason } = toGrpcStatus(err);
  if (!reason) return { code, details };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const metadata = new (require('@grpc/grpc-js') as typeof grpc).Metadata();
  metadata.set(REASON_TRAILER, reason);
  return { code, details, metadata };
}

function checkSocketDirectory(socket: string): void {
  const dir = dirname(socket);
  let stat;
  try {
    stat = statSync(dir);
  } catch (err) {
    throw invalidArgument(`cannot listen on ${socket}: directory ${dir} does not exist (${(err as NodeJS.ErrnoException).code})`);
  }
  if (!stat.isDirectory()) throw invalidArgument(`cannot listen on ${socket}: ${dir} is not a directory`);
  try {
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw invalidArgument(`cannot listen on ${socket}: directory ${dir} is not writable (${(err as NodeJS.ErrnoException).code})`);
  }
}

/** flock(1)'s exit code (--conflict-exit-code) when another holds the lock. */
const LOCK_HELD = 75;

/**
 * The lock that says "a daemon owns this socket path": flock(2) on `<socket>.lock`, a file of
 * mode 0600 owned by the daemon's user (root) beside the socket, so no other user can open it,
 * let alone lock it. (It was an abstract socket name, which any local user could bind first,
 * a container with --network host too, and so keep every daemon from starting.) The kernel
 * drops the lock when its holder dies, however it dies; flock locks belong to the open file,
 * so two claims in one process exclude each other too. Node has no flock: util-linux's
 * flock(1) takes it on our open file, handed over as its fd 3, and exits; the lock stays with
 * our descriptor (close-on-exec, so no child of the daemon keeps it). The file stays when
 * released: removing it would let a later claim lock a file that a newer one has replaced.
 */
function acquireSocketLock(socket: string): { release(): void } {
  const file = `${socket}.lock`;
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  } catch (err) {
    throw new EngineError(ErrorKind.Unavailable, `lock ${socket}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const owner = fstatSync(fd).uid;
    if (owner !== process.geteuid?.())
      throw failedPrecondition(`lock ${socket}: ${file} belongs to uid ${owner}, not to this daemon's user: remove it`);
    fchmodSync(fd, 0o600);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
    const r = spawnSync('flock', ['--nonblock', '--conflict-exit-code', String(LOCK_HELD), '3'], {
      stdio: ['ignore', 'ignore', 'pipe', fd],
      encoding: 'utf8',
    });
    if (r.status === LOCK_HELD) throw alreadyExists(`socket ${socket} is in use by another running daemon`);
    if (r.status !== 0) {
      const why = r.error ? `flock (util-linux): ${r.error.message}` : r.stderr.trim() || `flock exited ${r.status ?? r.signal}`;
      throw new EngineError(ErrorKind.Unavailable, `lock ${socket}: ${why}`, { cause: r.error });
    }
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  let held = true;
  return {
    release: () => {
      if (held) closeSync(fd);
      held = false;
    },
  };
}

function probe(socket: string): Promise<'live' | 'stale'> {
  return new Promise((resolve, reject) => {
    const conn = net.connect(socket);
    conn.once('connect', () => {
      conn.destroy();
      resolve('live');
    });
    conn.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED' || err.code === 'ENOENT') resolve('stale');
      else reject(new EngineError(ErrorKind.Unavailable, `probe ${socket}: ${err.message}`, { cause: err }));
    });
  });
}

/** Removes a socket file no process listens on any more; refuses one that a process answers on. */
async function clearStaleSocket(socket: string, logger: Logger): Promise<void> {
  let stat;
  try {
    stat = lstatSync(socket);
  } catch {
    return;
  }
  if (!stat.isSocket()) throw failedPrecondition(`cannot listen on ${socket}: it exists and is not a socket`);
  if ((await probe(socket)) === 'live') throw alreadyExists(`socket ${socket} is held by a live process; not taking it over`);
  unlinkSync(socket);
  logger.warn('removed stale socket', { socket });
}

interface Health {
  implementation: grpc.UntypedServiceImplementation;
  /** Tells every watcher the service is going away and ends their streams, so shutdown need not wait on them. */
  endWatches(): void;
}

function health(serving: () => boolean, services: Set<string>): Health {
  const statusOf = (service: string): HealthCheckResponse['status'] | undefined => {
    if (service !== '' && !services.has(service)) return undefined;
    return serving() ? 'SERVING' : 'NOT_SERVING';
  };
  const watches = new Set<grpc.ServerWritableStream<HealthCheckRequest__Output, HealthCheckResponse>>();
  return {
    implementation: {
      Check: (
        call: grpc.ServerUnaryCall<HealthCheckRequest__Output, HealthCheckResponse>,
        callback: grpc.sendUnaryData<HealthCheckResponse>,
      ) => {
        const status = statusOf(call.request.service);
        if (!status) callback(toServiceError(new EngineError(ErrorKind.NotFound, `unknown service "${call.request.service}"`)));
        else callback(null, { status });
      },
      Watch: (call: grpc.ServerWritableStream<HealthCheckRequest__Output, HealthCheckResponse>) => {
        call.write({ status: statusOf(call.request.service) ?? 'SERVICE_UNKNOWN' });
        watches.add(call);
        call.on('cancelled', () => watches.delete(call));
      },
    },
    endWatches: () => {
      for (const call of watches) {
        call.write({ status: 'NOT_SERVING' });
        call.end();
      }
      watches.clear();
    },
  };
}

/**
 * The handlers of one service, each call recorded as the span `rpc.server <path>` (CTL_TRACE):
 * from the handler's start to its answer (unary) or to the end of its stream.
 */
function tracedImplementation(
  definition: grpc.ServiceDefinition,
  implementation: grpc.UntypedServiceImplementation,
): grpc.UntypedServiceImplementation {
  const out: grpc.UntypedServiceImplementation = {};
  for (const [name, handler] of Object.entries(implementation)) {
    const method = definition[name];
    const span = `rpc.server ${method?.path ?? name}`;
    if (!method || method.requestStream || method.responseStream) {
      out[name] = ((call: grpc.ServerDuplexStream<unknown, unknown>) => {
        const start = traceNow();
        call.once('close', () => traceSpan(span, start));
        return (handler as (call: unknown) => unknown)(call);
      }) as grpc.UntypedHandleCall;
    } else {
      out[name] = ((call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        const start = traceNow();
        return (handler as grpc.handleUnaryCall<unknown, unknown>)(call, (...args: Parameters<grpc.sendUnaryData<unknown>>) => {
          traceSpan(span, start);
          callback(...args);
        });
      }) as grpc.UntypedHandleCall;
    }
  }
  return out;
}

/**
 * The unary methods of a service also for clients in this process (local-calls.ts): the handler
 * gets what grpc-js would give it (the request decoded by the definition, the headers as
 * metadata) and its answer goes back encoded, or as the status grpc-js would send.
 */
function serveUnaryLocally(
  grpcJs: typeof grpc,
  socket: string,
  definition: grpc.ServiceDefinition,
  handlers: grpc.UntypedServiceImplementation,
  inFlight: Set<Promise<unknown>>,
): void {
  for (const [name, method] of Object.entries(definition)) {
    if (method.requestStream || method.responseStream) continue;
    // as grpc-js answers a method of the definition that the service does not implement
    const unimplemented: grpc.handleUnaryCall<unknown, unknown> = (_call, callback) =>
      callback({ code: grpcJs.status.UNIMPLEMENTED, details: `The server does not implement the method ${method.path}` });
    const handler = (handlers[name] as grpc.handleUnaryCall<unknown, unknown> | undefined) ?? unimplemented;
    serveLocally(socket, method.path, (bytes, headers) => {
      const answered = new Promise<LocalAnswer>((done) => {
        const metadata = new grpcJs.Metadata();
        for (const [key, value] of Object.entries(headers)) metadata.set(key, value);
        const call = { request: method.requestDeserialize(Buffer.from(bytes)), metadata, cancelled: false, getPeer: () => 'local' };
        const answer: grpc.sendUnaryData<unknown> = (err, value) => {
          if (err) {
            const reason = err.metadata?.get(REASON_TRAILER)[0];
            done({
              status: {
                code: err.code ?? grpcJs.status.UNKNOWN,
                details: err.details ?? ('message' in err ? err.message : ''),
                ...(reason === undefined ? {} : { reason: String(reason) }),
              },
            });
          } else {
            done({ response: method.responseSerialize(value) });
          }
        };
        try {
          handler(call as unknown as grpc.ServerUnaryCall<unknown, unknown>, answer);
        } catch (err) {
          answer(toServiceError(err) as grpc.ServiceError);
        }
      });
      inFlight.add(answered);
      void answered.then(() => inFlight.delete(answered));
      return answered;
    });
  }
}

function serviceNames(definition: grpc.ServiceDefinition): string[] {
  return Object.values(definition).map((method) => method.path.split('/')[1]!);
}

/**
 * The right to serve on a socket path: its directory checked, its lock held, a stale socket
 * file removed. Taken before a service opens its stores, so that a second daemon fails on the
 * socket, with a message about the socket, and touches nothing else.
 */
export interface SocketClaim {
  socket: string;
  release(): void;
}

export async function claimSocket(socket: string, logger: Logger): Promise<SocketClaim> {
  checkSocketDirectory(socket);
  const lock = acquireSocketLock(socket);
  try {
    await clearStaleSocket(socket, logger);
  } catch (err) {
    lock.release();
    throw err;
  }
  return { socket, release: lock.release };
}

/** Serves one service's parts on a unix socket. */
export async function serveUnix(socket: string, parts: ServiceParts, logger: Logger): Promise<ServerHandle> {
  return serveClaimed(await claimSocket(socket, logger), parts, logger);
}

/** Serves one service's parts on a socket already claimed; the handle's shutdown releases it. */
export async function serveClaimed(claim: SocketClaim, parts: ServiceParts, logger: Logger): Promise<ServerHandle> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const grpcJs = require('@grpc/grpc-js') as typeof grpc;
  const { socket } = claim;
  let serving = false;
  const registered = new Set<string>();
  /** Calls from this process in progress (local-calls.ts): a shutdown waits for them as for the socket's. */
  const localCalls = new Set<Promise<unknown>>();
  const healthService = health(() => serving, registered);
  const server = new grpcJs.Server({
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
    'grpc.max_send_message_length': 16 * 1024 * 1024,
    // No channelz service is served, so its per-socket and per-call tracking is work for no one.
    'grpc.enable_channelz': 0,
  });
  try {
    const info = buildInfo();
    const add = (definition: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void => {
      const handlers = tracing ? tracedImplementation(definition, implementation) : implementation;
      server.addService(definition, handlers);
      for (const name of serviceNames(definition)) registered.add(name);
      serveUnaryLocally(grpcJs, socket, definition, handlers, localCalls);
    };
    add(serviceDefinition('containerd/services/version/v1/version', 'containerd.services.version.v1.Version'), {
      Version: unaryHandler(async () => ({ version: info.version, revision: info.revision })),
    });
    for (const r of parts.registrations) add(r.definition, r.implementation);
    add(serviceDefinition('grpc/health/v1/health', 'grpc.health.v1.Health'), healthService.implementation);
    // The socket is made with mode 0600 from the start (umask), not loosened then tightened.
    const previousUmask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.bindAsync(`unix:${socket}`, grpcJs.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve()));
      });
    } finally {
      process.umask(previousUmask);
    }
    chmodSync(socket, 0o600);
  } catch (err) {
    stopServingLocally(socket);
    server.forceShutdown();
    claim.release();
    if (err instanceof EngineError) throw err;
    throw new EngineError(ErrorKind.Unavailable, `listen on ${socket}: ${(err as Error).message}`, { cause: err });
  }
  const boundInode = lstatSync(socket).ino;
  serving = true;
  logger.info('serving', { socket });

  let closing: Promise<void> | undefined;
  const shutdown = (graceMs = 10_000): Promise<void> => {
    closing ??= (async () => {
      serving = false;
      stopServingLocally(socket);
      healthService.endWatches();
      parts.endStreams?.();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          logger.warn('in-flight calls did not finish in time; cancelling them', { graceMs });
          server.forceShutdown();
          resolve();
        }, graceMs);
        // the socket's calls and this process's (which cannot be cancelled: they are left to end)
        let waiting = 2;
        const done = (): void => {
          if (--waiting > 0) return;
          clearTimeout(timer);
          resolve();
        };
        server.tryShutdown(done);
        void Promise.allSettled([...localCalls]).then(done);
      });
      try {
        await parts.close();
      } finally {
        try {
          // Only the socket this server made: a successor may already have replaced it.
          if (lstatSync(socket).ino === boundInode) unlinkSync(socket);
        } catch {
          // Already gone.
        }
        claim.release();
        logger.info('stopped', { socket });
      }
    })();
    return closing;
  };
  return { name: parts.name, socket, shutdown };
}

export interface InstanceService {
  name: ServiceName;
  socket: string;
  factory: ServiceFactory;
}

/**
 * Starts services in order (a later one may be a client of an earlier one) and returns their
 * handles; if one fails, those already started are shut down again before the error is thrown.
 */
export async function startServices(
  services: InstanceService[],
  dirs: InstanceDirs,
  logger: Logger,
  childLogger: (name: ServiceName) => Logger,
): Promise<ServerHandle[]> {
  ensureDir(dirs.state);
  ensureDir(dirs.root);
  const handles: ServerHandle[] = [];
  const claims: SocketClaim[] = [];
  try {
    for (const service of services) claims.push(await claimSocket(service.socket, childLogger(service.name)));
    for (const [i, service] of services.entries()) {
      const log = childLogger(service.name);
      const parts = await service.factory({ dirs, logger: log });
      try {
        handles.push(await serveClaimed(claims[i]!, parts, log));
      } catch (err) {
        await parts.close();
        throw err;
      }
    }
  } catch (err) {
    await stopServices(handles);
    for (const claim of claims.slice(handles.length)) claim.release();
    logger.error('start failed', { error: (err as Error).message });
    throw err;
  }
  return handles;
}

/** Shuts services down in the reverse of their start order. */
export async function stopServices(handles: ServerHandle[], graceMs?: number): Promise<void> {
  for (const handle of [...handles].reverse()) await handle.shutdown(graceMs);
}

/** Runs until SIGTERM or SIGINT, then shuts down gracefully; a second signal exits at once. */
export function stopOnSignals(handles: ServerHandle[], logger: Logger, exit: (code: number) => void = process.exit): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn('second signal; exiting now', { signal });
      exit(1);
      return;
    }
    stopping = true;
    logger.info('shutting down', { signal });
    stopServices(handles).then(
      () => exit(0),
      (err: unknown) => {
        logger.error('shutdown failed', { error: (err as Error).message });
        exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

/** Writes one message, waiting while the stream's buffer is full. */
export function sendMessage<T>(stream: Writable, message: T): Promise<void> {
  if (stream.write(message)) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

/** Ends a streaming call with the outcome of its handler, unless the client has gone. */
export function finishStream(call: Writable & { cancelled: boolean }, work: Promise<void>): void {
  work.then(
    () => {
      if (!call.cancelled && !call.destroyed) call.end();
    },
    (err: unknown) => {
      if (!call.cancelled && !call.destroyed) call.emit('error', toServiceError(err));
    },
  );
}
