/**
 * A light gRPC client for short-lived processes (the `ctl` command line): HTTP/2 of our own
 * (h2.ts: node:http2 would load http, tls and crypto with it) plus the precompiled static codecs, instead of @grpc/grpc-js and a
 * descriptor. Loading grpc-js and the contracts costs several times a whole Node start, which
 * a long-running service pays once and a CLI would pay on every command (see tools/bench).
 * It speaks unary and server-streaming calls over a unix socket, and, through `call()`,
 * client-streaming and bidirectional ones (the content store's Write) plus server streams read
 * at the caller's pace, with flow control both ways so a large blob is never held in memory.
 */
import { CANCEL, type H2Session, type H2Stream, type H2Transport, type Headers, h2Connect } from './h2';
import { EngineError, ErrorKind, unavailable } from './errors';
import { GrpcCode, REASON_TRAILER, fromGrpcStatus } from './status';
import { type MessageCodec, messageCodec, staticCodecs, staticMethod } from './codecs';
import { type LocalAnswer, type LocalUnary, localUnary } from './local-calls';
import { namespaceHeaders } from './namespace';
import { traceNow, traceSpan, tracing } from './trace';

/** One RPC with its codecs; Req and Res are the generated TypeScript types. */
export interface WireMethod<Req, Res> {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  encode(request: Req): Uint8Array;
  decode(bytes: Uint8Array): Res;
}

/**
 * Looks a method up in the static codecs of one .proto file, named by its path without
 * `.proto` (e.g. `containerd/services/version/v1/version`).
 */
export function wireMethod<Req, Res>(protoFile: string, service: string, method: string): WireMethod<Req, Res> {
  const { path, requestStream, responseStream, request, response } = staticMethod(protoFile, service, method);
  return {
    path,
    requestStream,
    responseStream,
    encode: request.encode as (request: Req) => Uint8Array,
    decode: response.decode as (bytes: Uint8Array) => Res,
  };
}

/** One message type's codec, from the static codecs of the .proto file that defines it. */
export type WireType<T> = MessageCodec<T>;

/**
 * The codec of one message type (full name without the leading dot, e.g.
 * `containerd.events.TaskExit`) from the static codecs of `protoFile` (path without `.proto`);
 * undefined when the file has no such type. Decoding gives the same shape as the RPCs' messages.
 */
export function wireType<T>(protoFile: string, fullName: string): WireType<T> | undefined {
  return messageCodec<T>(staticCodecs(protoFile).root, fullName);
}

export interface CallOptions {
  headers?: Record<string, string>;
  /** Milliseconds until the call is abandoned with DeadlineExceeded. */
  timeoutMs?: number;
  /** Abandons the call (RST_STREAM CANCEL to the server) with Cancelled when it aborts. */
  signal?: AbortSignal;
}

function frame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out.writeUInt8(0, 0);
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

/**
 * Splits a byte stream into gRPC length-prefixed messages. Chunks are kept as they came and
 * joined once per message, so a message spread over many HTTP/2 frames is copied once.
 */
class Deframer {
  private chunks: Buffer[] = [];
  private length = 0;

  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.length += chunk.length;
    const out: Buffer[] = [];
    while (this.length >= 5) {
      const head = this.first(5);
      const size = head.readUInt32BE(1);
      if (this.length < 5 + size) break;
      if (head[0] !== 0) throw new EngineError(ErrorKind.Internal, 'compressed gRPC message not supported');
      out.push(this.take(5 + size).subarray(5));
    }
    return out;
  }

  /** The first chunk, merged with the next ones until it holds at least n bytes. */
  private first(n: number): Buffer {
    while (this.chunks[0]!.length < n) {
      const [a, b, ...rest] = this.chunks;
      this.chunks = [Buffer.concat([a!, b!]), ...rest];
    }
    return this.chunks[0]!;
  }

  private take(n: number): Buffer {
    this.length -= n;
    const head = this.chunks[0]!;
    if (head.length >= n) {
      if (head.length === n) this.chunks.shift();
      else this.chunks[0] = head.subarray(n);
      return head.subarray(0, n);
    }
    const parts: Buffer[] = [];
    let need = n;
    while (need > 0) {
      const c = this.chunks[0]!;
      if (c.length <= need) {
        parts.push(c);
        this.chunks.shift();
        need -= c.length;
      } else {
        parts.push(c.subarray(0, need));
        this.chunks[0] = c.subarray(need);
        need = 0;
      }
    }
    return Buffer.concat(parts, n);
  }
}

function statusOf(headers: Headers): EngineError | null {
  const code = Number(headers['grpc-status'] ?? GrpcCode.UNKNOWN);
  if (code === GrpcCode.OK) return null;
  const raw = String(headers['grpc-message'] ?? '');
  let message = raw;
  try {
    message = decodeURIComponent(raw);
  } catch {
    // A message that is not percent-encoded is used as it came.
  }
  const reason = headers[REASON_TRAILER];
  return fromGrpcStatus(code, message || `gRPC status ${code}`, typeof reason === 'string' ? reason : undefined);
}

/** Nothing listens on the socket (missing, or refused): the request never reached a server. */
export class NotServingError extends EngineError {
  constructor(message: string) {
    super(ErrorKind.Unavailable, message);
  }
}

export type { H2Transport } from './h2';

/** Opens the byte stream to a socket path; undefined: use node:net. */
export type TransportConnector = (socket: string) => H2Transport | undefined;

/** node:net, loaded when a client first connects without a connector of its own. */
function netConnect(socket: string): H2Transport {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('node:net') as typeof import('node:net')).connect(socket);
}

export class WireClient {
  private session: H2Session | undefined;
  private sessionError: Error | undefined;

  /** connect: how to reach the socket (the command line's native socket); node:net by default. */
  constructor(
    readonly socket: string,
    private readonly connect?: TransportConnector,
  ) {}

  /**
   * Connects now, for a caller with work to do before its first call (parsing, loading codecs):
   * the connection's set-up overlaps it. A failure shows at the first call, as without this.
   */
  warm(): void {
    if (this.session) return;
    try {
      this.open();
    } catch {
      // the first call opens again and reports it
    }
  }

  private open(): H2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    this.sessionError = undefined;
    const session = h2Connect(this.connect?.(this.socket) ?? netConnect(this.socket));
    if (tracing) {
      const start = traceNow();
      session.once('connect', () => traceSpan(`rpc.connect ${this.socket.slice(this.socket.lastIndexOf('/') + 1)}`, start));
    }
    session.on('error', (err) => {
      this.sessionError = err;
    });
    this.session = session;
    return session;
  }

  private connectionError(err: Error): EngineError {
    // http2 reports a refused connection as a cancelled stream whose cause is the socket's error.
    const code = (err as NodeJS.ErrnoException).code ?? '';
    const causeCode = (err as { cause?: NodeJS.ErrnoException }).cause?.code ?? '';
    const refused = ['ENOENT', 'ECONNREFUSED'].find((c) => c === code || c === causeCode);
    if (refused) return new NotServingError(`no service answers on ${this.socket} (${refused})`);
    return new EngineError(ErrorKind.Unavailable, `connect ${this.socket}: ${err.message}`, { cause: err });
  }

  private openStream<Req, Res>(method: WireMethod<Req, Res>, options: CallOptions): H2Stream {
    const headers: Record<string, string> = {
      ':method': 'POST',
      ':scheme': 'http',
      ':authority': 'localhost',
      ':path': method.path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...options.headers,
    };
    if (options.timeoutMs !== undefined) headers['grpc-timeout'] = `${Math.max(1, Math.ceil(options.timeoutMs))}m`;
    const { signal } = options;
    if (signal?.aborted) throw new EngineError(ErrorKind.Canceled, `${method.path}: cancelled`);
    const stream = this.open().request(headers);
    if (options.timeoutMs !== undefined) {
      stream.setTimeout(options.timeoutMs, () => {
        stream.destroy(new EngineError(ErrorKind.DeadlineExceeded, `${method.path}: deadline of ${options.timeoutMs} ms exceeded`));
      });
    }
    if (signal) {
      const cancel = (): void => void stream.destroy(new EngineError(ErrorKind.Canceled, `${method.path}: cancelled`));
      signal.addEventListener('abort', cancel, { once: true });
      stream.once('close', () => signal.removeEventListener('abort', cancel));
    }
    return stream;
  }

  private start<Req, Res>(method: WireMethod<Req, Res>, request: Req, options: CallOptions): H2Stream {
    const stream = this.openStream(method, options);
    stream.end(frame(method.encode(request)));
    return stream;
  }

  /** Runs one call, handing each response message to onMessage; resolves at the end status. */
  private run<Req, Res>(method: WireMethod<Req, Res>, request: Req, options: CallOptions, onMessage: (m: Res) => void): Promise<void> {
    if (method.requestStream) {
      return Promise.reject(new EngineError(ErrorKind.InvalidArgument, `${method.path} streams requests: open it with call()`));
    }
    const local = method.responseStream ? undefined : localUnary(this.socket, method.path);
    if (local) return this.runLocally(local, method, request, options, onMessage);
    const start = tracing ? traceNow() : 0;
    return new Promise<void>((resolve, reject) => {
      let stream: H2Stream;
      try {
        stream = this.start(method, request, options);
      } catch (err) {
        reject(this.connectionError(err as Error));
        return;
      }
      const deframer = new Deframer();
      let status: EngineError | null | undefined;
      stream.on('response', (headers) => {
        // A trailers-only response carries the status in its headers.
        if (headers['grpc-status'] !== undefined) status = statusOf(headers);
      });
      stream.on('trailers', (trailers) => {
        status = statusOf(trailers);
      });
      stream.on('data', (chunk: Buffer) => {
        try {
          for (const message of deframer.push(chunk)) onMessage(method.decode(message));
        } catch (err) {
          stream.destroy(err as Error);
        }
      });
      stream.on('error', (err) => {
        if (err instanceof EngineError) reject(err);
        else reject(this.connectionError(this.sessionError ?? err));
      });
      stream.on('close', () => {
        if (tracing) traceSpan(`rpc.client ${method.path}`, start);
        if (status === undefined) {
          reject(
            this.sessionError ? this.connectionError(this.sessionError) : unavailable(`${method.path}: stream closed without a status`),
          );
        } else if (status) {
          reject(status);
        } else {
          resolve();
        }
      });
    });
  }

  /** A unary call to a service of this process (local-calls.ts): the same bytes and statuses, no socket. */
  private async runLocally<Req, Res>(
    local: LocalUnary,
    method: WireMethod<Req, Res>,
    request: Req,
    options: CallOptions,
    onMessage: (m: Res) => void,
  ): Promise<void> {
    const start = tracing ? traceNow() : 0;
    const { signal, timeoutMs } = options;
    if (signal?.aborted) throw new EngineError(ErrorKind.Canceled, `${method.path}: cancelled`);
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      const ending = [local(method.encode(request), { ...options.headers })];
      if (timeoutMs !== undefined) {
        ending.push(
          new Promise((_, reject) => {
            timer = setTimeout(
              () => reject(new EngineError(ErrorKind.DeadlineExceeded, `${method.path}: deadline of ${timeoutMs} ms exceeded`)),
              timeoutMs,
            );
          }),
        );
      }
      if (signal) {
        ending.push(
          new Promise((_, reject) => {
            onAbort = () => reject(new EngineError(ErrorKind.Canceled, `${method.path}: cancelled`));
            signal.addEventListener('abort', onAbort, { once: true });
          }),
        );
      }
      const answer = (await Promise.race(ending)) as LocalAnswer;
      if ('status' in answer) {
        const { code, details, reason } = answer.status;
        throw fromGrpcStatus(code, details || `gRPC status ${code}`, reason);
      }
      onMessage(method.decode(answer.response));
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
      if (tracing) traceSpan(`rpc.client ${method.path}`, start);
    }
  }

  async unary<Req, Res>(method: WireMethod<Req, Res>, request: Req, options: CallOptions = {}): Promise<Res> {
    let response: Res | undefined;
    await this.run(method, request, options, (m) => {
      response = m;
    });
    if (response === undefined) throw new EngineError(ErrorKind.Internal, `${method.path}: no response message`);
    return response;
  }

  /** A server-streaming call; messages arrive in order, all of them before the promise settles. */
  async serverStream<Req, Res>(
    method: WireMethod<Req, Res>,
    request: Req,
    onMessage: (m: Res) => void,
    options: CallOptions = {},
  ): Promise<void> {
    await this.run(method, request, options, onMessage);
  }

  /**
   * Opens a call of any kind and hands back both of its streams: send() requests (each resolves
   * once HTTP/2 has taken it), end() the requests, recv() responses one at a time. Responses
   * are read from the socket only as fast as recv() takes them.
   */
  call<Req, Res>(method: WireMethod<Req, Res>, options: CallOptions = {}): WireCall<Req, Res> {
    let stream: H2Stream;
    try {
      stream = this.openStream(method, options);
    } catch (err) {
      return WireCall.failed(this.connectionError(err as Error));
    }
    if (tracing) {
      const start = traceNow();
      stream.once('close', () => traceSpan(`rpc.client ${method.path}`, start));
    }
    return new WireCall(
      method,
      stream,
      (err) => (err instanceof EngineError ? err : this.connectionError(this.sessionError ?? err)),
      () => (this.sessionError ? this.connectionError(this.sessionError) : undefined),
    );
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
  }
}

/** Responses buffered before the socket is paused: a few messages, whatever their size. */
const RECV_HIGH_WATER = 4;

/** One open call; see WireClient.call. */
export class WireCall<Req, Res> {
  private readonly queue: Res[] = [];
  private waiting: { resolve: (m: Res | undefined) => void; reject: (err: Error) => void } | undefined;
  /** Set once the call is over: null for OK, else the error it ended with. */
  private outcome: EngineError | null | undefined;
  private status: EngineError | null | undefined;

  static failed<Req, Res>(err: EngineError): WireCall<Req, Res> {
    const call = new WireCall<Req, Res>(
      undefined,
      undefined,
      () => err,
      () => err,
    );
    call.outcome = err;
    return call;
  }

  constructor(
    private readonly method: WireMethod<Req, Res> | undefined,
    private readonly stream: H2Stream | undefined,
    toError: (err: Error) => EngineError,
    sessionError: () => EngineError | undefined,
  ) {
    if (!stream || !method) return;
    const deframer = new Deframer();
    stream.on('response', (headers) => {
      if (headers['grpc-status'] !== undefined) this.status = statusOf(headers);
    });
    stream.on('trailers', (trailers) => {
      this.status = statusOf(trailers);
    });
    stream.on('data', (chunk: Buffer) => {
      try {
        for (const message of deframer.push(chunk)) this.deliver(method.decode(message));
      } catch (err) {
        stream.destroy(err as Error);
      }
    });
    stream.on('error', (err) => this.finish(toError(err)));
    // The server's end of the stream (after its trailers, once every message has been read)
    // ends the call, also while this side is still open for sending.
    stream.on('end', () => {
      this.finish(this.status === undefined ? unavailable(`${method.path}: stream ended without a status`) : this.status);
      if (!stream.writableEnded && !stream.destroyed) stream.end();
    });
    stream.on('close', () => {
      if (this.status === undefined) this.finish(sessionError() ?? unavailable(`${method.path}: stream closed without a status`));
      else this.finish(this.status);
    });
  }

  private deliver(message: Res): void {
    if (this.waiting) {
      const { resolve } = this.waiting;
      this.waiting = undefined;
      resolve(message);
      return;
    }
    this.queue.push(message);
    if (this.queue.length >= RECV_HIGH_WATER) this.stream?.pause();
  }

  private finish(outcome: EngineError | null): void {
    if (this.outcome !== undefined) return;
    this.outcome = outcome;
    if (this.waiting && this.queue.length === 0) {
      const { resolve, reject } = this.waiting;
      this.waiting = undefined;
      if (outcome) reject(outcome);
      else resolve(undefined);
    }
  }

  /** Sends one request message; resolves when HTTP/2 has taken it (flow control). */
  send(request: Req): Promise<void> {
    const stream = this.stream;
    if (this.outcome !== undefined || !stream || !this.method) return Promise.reject(this.outcome ?? unavailable('call is over'));
    if (stream.writableEnded) return Promise.reject(new EngineError(ErrorKind.FailedPrecondition, `${this.method.path}: send after end`));
    const bytes = frame(this.method.encode(request));
    return new Promise<void>((resolve, reject) => {
      stream.write(bytes, (err) => {
        if (err) reject(this.outcome ?? new EngineError(ErrorKind.Unavailable, `${this.method!.path}: ${err.message}`, { cause: err }));
        else resolve();
      });
    });
  }

  /** Ends the requests; the responses go on until the server ends the call. */
  end(): void {
    if (this.stream && !this.stream.writableEnded && !this.stream.destroyed) this.stream.end();
  }

  /** The next response, or undefined when the call ended with OK; rejects with the call's error. */
  recv(): Promise<Res | undefined> {
    if (this.queue.length > 0) {
      const message = this.queue.shift()!;
      if (this.queue.length < RECV_HIGH_WATER && this.stream?.isPaused()) this.stream.resume();
      return Promise.resolve(message);
    }
    if (this.outcome !== undefined) return this.outcome ? Promise.reject(this.outcome) : Promise.resolve(undefined);
    if (this.waiting) return Promise.reject(new EngineError(ErrorKind.FailedPrecondition, 'recv while another recv is pending'));
    this.stream?.resume();
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  /** Ends the call from this side (the server sees it cancelled). */
  cancel(): void {
    if (this.stream && !this.stream.destroyed) this.stream.close(CANCEL);
    this.finish(new EngineError(ErrorKind.Canceled, `${this.method?.path ?? 'call'}: cancelled by the client`));
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Res, void, undefined> {
    try {
      for (;;) {
        const message = await this.recv();
        if (message === undefined) return;
        yield message;
      }
    } finally {
      if (this.outcome === undefined) this.cancel();
    }
  }
}

/** A client of one namespaced service: every call carries the containerd-namespace header. */
export class NamespacedClient {
  protected readonly options: CallOptions;

  constructor(
    protected readonly wire: WireClient,
    readonly namespace = 'default',
  ) {
    this.options = { headers: namespaceHeaders(namespace) };
  }
}
