/**
 * Forwarding a query the network does not answer to the upstream servers, in order, each given a
 * deadline: over UDP for a UDP query, over TCP for a TCP one (a truncated UDP answer is relayed
 * as it is, so the client asks again over TCP). The answer is relayed unchanged, NXDOMAIN or not.
 */
import { createSocket } from 'node:dgram';
import { isIP, createConnection } from 'node:net';

export interface Upstream {
  address: string;
  port: number;
}

/** An upstream written as resolv.conf does (an address) or with a port: `10.0.0.2`, `{ address, port }`. */
export type UpstreamSpec = string | { address: string; port?: number };

export function toUpstream(spec: UpstreamSpec): Upstream {
  return typeof spec === 'string' ? { address: spec, port: 53 } : { address: spec.address, port: spec.port ?? 53 };
}

export type Transport = 'udp' | 'tcp';

/** The first upstream's answer, or undefined when none answered within its deadline. */
export async function forward(
  query: Buffer,
  upstreams: readonly Upstream[],
  transport: Transport,
  timeoutMs: number,
): Promise<Buffer | undefined> {
  for (const upstream of upstreams) {
    const exchange = transport === 'udp' ? exchangeUdp : exchangeTcp;
    const answer = await exchange(query, upstream, timeoutMs).catch(() => undefined);
    if (answer && answer.length >= 2 && answer.readUInt16BE(0) === query.readUInt16BE(0)) return answer;
  }
  return undefined;
}

/** One query on a connected socket of its own: only the upstream can answer it, and its ICMP errors fail fast. */
function exchangeUdp(query: Buffer, upstream: Upstream, timeoutMs: number): Promise<Buffer> {
  return withDeadline(upstream, timeoutMs, (settle) => {
    const socket = createSocket(isIP(upstream.address) === 6 ? 'udp6' : 'udp4');
    socket.on('error', (err) => settle(err));
    socket.on('message', (message) => settle(undefined, message));
    socket.connect(upstream.port, upstream.address, () => {
      try {
        socket.send(query);
      } catch (err) {
        settle(err as Error); // the connect failed (no route): its error is the reason
      }
    });
    return () => socket.close();
  });
}

function exchangeTcp(query: Buffer, upstream: Upstream, timeoutMs: number): Promise<Buffer> {
  return withDeadline(upstream, timeoutMs, (settle) => {
    const socket = createConnection({ host: upstream.address, port: upstream.port });
    let received: Buffer = Buffer.alloc(0);
    socket.on('error', (err) => settle(err));
    socket.on('close', () => settle(new Error(`${upstream.address} closed the connection`)));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const message = takeMessage(received);
      if (message) settle(undefined, message.message);
    });
    socket.on('connect', () => socket.write(frame(query)));
    return () => socket.destroy();
  });
}

type Settle = (err: Error | undefined, answer?: Buffer) => void;

/** Runs one exchange that `start` begins, settled once (answer, error or deadline); then its socket is let go. */
function withDeadline(upstream: Upstream, timeoutMs: number, start: (settle: Settle) => () => void): Promise<Buffer> {
  let release = (): void => undefined;
  const exchange = new Promise<Buffer>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer from ${upstream.address} in ${timeoutMs} ms`)), timeoutMs);
    release = start((err, answer) => {
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(answer!);
    });
  });
  return exchange.finally(() => release());
}

/** DNS over TCP: each message is preceded by its length in two bytes (RFC 1035 4.2.2). */
export function frame(message: Buffer): Buffer {
  const length = Buffer.alloc(2);
  length.writeUInt16BE(message.length);
  return Buffer.concat([length, message]);
}

/** The first whole message of a TCP stream and what follows it, or undefined while it is incomplete. */
export function takeMessage(stream: Buffer): { message: Buffer; rest: Buffer } | undefined {
  if (stream.length < 2) return undefined;
  const end = 2 + stream.readUInt16BE(0);
  return stream.length < end ? undefined : { message: stream.subarray(2, end), rest: stream.subarray(end) };
}
