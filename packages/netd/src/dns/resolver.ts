/**
 * The DNS resolver of a network: netd runs one per gateway address of each network with DNS,
 * all in its own process. It listens on UDP and TCP port 53 of the gateway, answers the names and
 * aliases of the network's containers (answer.ts), and forwards every other question to the
 * upstream servers (forward.ts), answering SERVFAIL when none of them answers.
 */
import { EngineError, ErrorKind } from '@ctl/proto/errors';
import { type Socket as UdpSocket, createSocket } from 'node:dgram';
import { Server, type Socket, createServer, isIP } from 'node:net';
import { type AddressLookup, type NameLookup, decide, serverFailure } from './answer';
import { type Transport, type UpstreamSpec, forward, frame, takeMessage, toUpstream } from './forward';

export interface ResolverOptions {
  /** The address to listen on: the network's gateway. */
  address: string;
  /** 53 unless told (tests). */
  port?: number;
  /** The network's name, so that `<container>.<network>` is answered too. */
  network?: string;
  /** The addresses of a name on the network, as the client (its address) may see them. */
  lookup: (name: string, client: string) => ReturnType<NameLookup>;
  /** The name of an address on the network (PTR), as the client may see it. */
  reverse?: (address: string, client: string) => ReturnType<AddressLookup>;
  /** Where other questions go: a list, or per client address (a container's own --dns). */
  upstream: readonly UpstreamSpec[] | ((client: string) => readonly UpstreamSpec[]);
  /** How long each upstream is given before the next is asked; 2 s by default. */
  upstreamTimeoutMs?: number;
}

export interface Resolver {
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

const DEFAULT_UPSTREAM_TIMEOUT_MS = 2000;
/** A TCP client that sends nothing for this long is hung up on (RFC 7766 suggests seconds). */
const TCP_IDLE_MS = 10_000;

export async function startResolver(options: ResolverOptions): Promise<Resolver> {
  const port = options.port ?? 53;
  const answer = answerer(options);
  const udp = createSocket({ type: isIP(options.address) === 6 ? 'udp6' : 'udp4' });
  udp.on('message', (query, client) => {
    void answer(query, client.address, 'udp').then((response) => response && udp.send(response, client.port, client.address));
  });
  const connections = new Set<Socket>();
  const tcp = createServer((connection) => {
    connections.add(connection);
    connection.on('close', () => connections.delete(connection));
    serveTcp(connection, answer);
  });
  try {
    await listen(udp, port, options.address);
    await listen(tcp, port, options.address);
  } catch (err) {
    udp.close();
    tcp.close(() => undefined);
    const code = (err as NodeJS.ErrnoException).code;
    const kind = code === 'EADDRINUSE' ? ErrorKind.AlreadyExists : ErrorKind.FailedPrecondition;
    throw new EngineError(kind, `DNS resolver on ${options.address} port ${port}: ${(err as Error).message}`, { cause: err });
  }
  // A failed send to one client (it went away) must not stop the resolver.
  udp.on('error', () => undefined);
  return {
    address: options.address,
    port,
    close: () =>
      Promise.all([new Promise<void>((resolve) => udp.close(() => resolve())), closeTcp(tcp, connections)]).then(() => undefined),
  };
}

type Answerer = (query: Buffer, client: string, transport: Transport) => Promise<Buffer | undefined>;

function answerer(options: ResolverOptions): Answerer {
  const timeoutMs = options.upstreamTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS;
  const upstreamsOf = (client: string) =>
    (typeof options.upstream === 'function' ? options.upstream(client) : options.upstream).map(toUpstream);
  return async (query, client, transport) => {
    const decision = decide(
      query,
      (name) => options.lookup(name, client),
      options.network,
      options.reverse && ((address) => options.reverse!(address, client)),
    );
    if (decision.kind === 'answer') return decision.response;
    if (decision.kind === 'drop') return undefined;
    return (await forward(query, upstreamsOf(client), transport, timeoutMs)) ?? serverFailure(query);
  };
}

/** DNS over TCP: length-prefixed queries, answered in order, until the client hangs up or idles. */
function serveTcp(connection: Socket, answer: Answerer): void {
  let pending: Buffer = Buffer.alloc(0);
  let queue = Promise.resolve();
  connection.setTimeout(TCP_IDLE_MS, () => connection.destroy());
  connection.on('error', () => connection.destroy());
  connection.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    for (let taken = takeMessage(pending); taken; taken = takeMessage(pending)) {
      pending = taken.rest;
      const query = taken.message;
      queue = queue.then(async () => {
        const response = await answer(query, connection.remoteAddress ?? '', 'tcp');
        if (response && !connection.destroyed) connection.write(frame(response));
      });
    }
  });
}

/** Binds a UDP socket or a TCP server: resolves once it listens, rejects with the error that stopped it. */
function listen(target: UdpSocket | Server, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    target.once('error', reject);
    const listening = (): void => {
      target.off('error', reject);
      resolve();
    };
    if (target instanceof Server) target.listen(port, address, listening);
    else target.bind(port, address, listening);
  });
}

/** Stops listening and hangs up on the clients still connected. */
function closeTcp(server: Server, connections: Set<Socket>): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    for (const connection of connections) connection.destroy();
  });
}
