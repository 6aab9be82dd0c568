/**
 * A light gRPC client for short-lived processes (the `ctl` command line): HTTP/2 from Node's
 * own http2 module plus the precompiled static codecs, instead of @grpc/grpc-js and a
 * descriptor. Loading grpc-js and the contracts costs several times a whole Node start, which
 * a long-running service pays once and a CLI would pay on every command (see tools/bench).
 * It speaks unary and server-streaming calls over a unix socket: what the CLI needs.
 */
import type { ClientHttp2Session, ClientHttp2Stream, IncomingHttpHeaders } from 'node:http2';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { EngineError, ErrorKind, unavailable } from './errors';
import { GrpcCode, fromGrpcStatus } from './status';

interface StaticType {
  encode(message: unknown): { finish(): Uint8Array };
  decode(bytes: Uint8Array): unknown;
  fromObject(object: unknown): unknown;
  toObject(message: unknown, options: object): unknown;
}

interface MethodInfo {
  path: string;
  requestType: string;
  responseType: string;
  requestStream: boolean;
  responseStream: boolean;
}

/** One RPC with its codecs; Req and Res are the generated TypeScript types. */
export interface WireMethod<Req, Res> {
  path: string;
  responseStream: boolean;
  encode(request: Req): Uint8Array;
  decode(bytes: Uint8Array): Res;
}

// The same conversions as loader-options.json gives grpc-js, so both clients return one shape.
const TO_OBJECT = { longs: Number, enums: String, defaults: true, oneofs: true } as const;

interface CodecModule {
  (protobuf: unknown): Record<string, unknown>;
  methods: Record<string, MethodInfo>;
}

const codecRoots = new Map<string, Record<string, unknown>>();
let protobufRuntime: unknown;

/** The static codecs of one .proto file, loaded on first use. */
function codecRoot(stem: string): { root: Record<string, unknown>; methods: Record<string, MethodInfo> } {
  // Required by package name, so that the CLI's bundle (which leaves them outside) and the
  // plain build find the same files.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(`@ctl/proto/static/${stem}`) as CodecModule;
  let root = codecRoots.get(stem);
  if (!root) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    protobufRuntime ??= require('protobufjs/minimal');
    root = mod(protobufRuntime);
    codecRoots.set(stem, root);
  }
  return { root, methods: mod.methods };
}

/**
 * Looks a method up in the static codecs of one .proto file, named by its path without
 * `.proto` (e.g. `containerd/services/version/v1/version`).
 */
export function wireMethod<Req, Res>(protoFile: string, service: string, method: string): WireMethod<Req, Res> {
  const { root, methods } = codecRoot(protoFile.replace(/\//g, '_'));
  const info = methods[`${service}/${method}`];
  if (!info) throw new EngineError(ErrorKind.NotFound, `no method ${service}/${method} in ${protoFile}.proto`);
  if (info.requestStream) throw new EngineError(ErrorKind.NotImplemented, `${info.path}: client streaming is not supported by the light client`);
  const type = (name: string): StaticType => name.split('.').reduce<any>((ns, part) => ns?.[part], root) as StaticType; // eslint-disable-line @typescript-eslint/no-explicit-any
  const requestType = type(info.requestType);
  const responseType = type(info.responseType);
  return {
    path: info.path,
    responseStream: info.responseStream,
    encode: (request) => requestType.encode(requestType.fromObject(request ?? {})).finish(),
    decode: (bytes) => responseType.toObject(responseType.decode(bytes), TO_OBJECT) as Res,
  };
}

export interface CallOptions {
  headers?: Record<string, string>;
  /** Milliseconds until the call is abandoned with DeadlineExceeded. */
  timeoutMs?: number;
}

function frame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out.writeUInt8(0, 0);
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

/** Splits a byte stream into gRPC length-prefixed messages. */
class Deframer {
  private buffered: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    const out: Buffer[] = [];
    while (this.buffered.length >= 5) {
      const length = this.buffered.readUInt32BE(1);
      if (this.buffered.length < 5 + length) break;
      if (this.buffered[0] !== 0) throw new EngineError(ErrorKind.Internal, 'compressed gRPC message not supported');
      out.push(this.buffered.subarray(5, 5 + length));
      this.buffered = this.buffered.subarray(5 + length);
    }
    return out;
  }
}

function statusOf(headers: IncomingHttpHeaders): EngineError | null {
  const code = Number(headers['grpc-status'] ?? GrpcCode.UNKNOWN);
  if (code === GrpcCode.OK) return null;
  const raw = String(headers['grpc-message'] ?? '');
  let message = raw;
  try {
    message = decodeURIComponent(raw);
  } catch {
    // A message that is not percent-encoded is used as it came.
  }
  return fromGrpcStatus(code, message || `gRPC status ${code}`);
}

export class WireClient {
  private session: ClientHttp2Session | undefined;
  private sessionError: Error | undefined;

  constructor(readonly socket: string) {}

  private open(): ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    this.sessionError = undefined;
    const session = http2.connect('http://localhost', { createConnection: () => net.connect(this.socket) });
    session.on('error', (err) => {
      this.sessionError = err;
    });
    this.session = session;
    return session;
  }

  private connectionError(err: Error): EngineError {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED') return unavailable(`no service answers on ${this.socket} (${code})`);
    return new EngineError(ErrorKind.Unavailable, `connect ${this.socket}: ${err.message}`, { cause: err });
  }

  private start<Req, Res>(method: WireMethod<Req, Res>, request: Req, options: CallOptions): ClientHttp2Stream {
    const headers: Record<string, string> = {
      ':method': 'POST',
      ':path': method.path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...options.headers,
    };
    if (options.timeoutMs !== undefined) headers['grpc-timeout'] = `${Math.max(1, Math.ceil(options.timeoutMs))}m`;
    const stream = this.open().request(headers);
    stream.end(frame(method.encode(request)));
    if (options.timeoutMs !== undefined) {
      stream.setTimeout(options.timeoutMs, () => {
        stream.destroy(new EngineError(ErrorKind.DeadlineExceeded, `${method.path}: deadline of ${options.timeoutMs} ms exceeded`));
      });
    }
    return stream;
  }

  /** Runs one call, handing each response message to onMessage; resolves at the end status. */
  private run<Req, Res>(method: WireMethod<Req, Res>, request: Req, options: CallOptions, onMessage: (m: Res) => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let stream: ClientHttp2Stream;
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
        if (status === undefined) {
          reject(this.sessionError ? this.connectionError(this.sessionError) : unavailable(`${method.path}: stream closed without a status`));
        } else if (status) {
          reject(status);
        } else {
          resolve();
        }
      });
    });
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
  async serverStream<Req, Res>(method: WireMethod<Req, Res>, request: Req, onMessage: (m: Res) => void, options: CallOptions = {}): Promise<void> {
    await this.run(method, request, options, onMessage);
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
  }
}
