/**
 * Host ports for published container ports: a port is ours to publish when no endpoint of this
 * netd publishes it already (same protocol, overlapping host address) and no process on the host
 * has it bound, which we learn by binding it ourselves for a moment (the kernel's own answer,
 * IPv6 wildcard listeners included). Port 0 asks the kernel for a free one; a range (hostPortEnd)
 * takes its first port that is ours to publish, as Docker does for `-p 8000-8002:80`.
 */
import { EngineError, ErrorKind, alreadyExists, invalidArgument, isKind } from '@ctl/proto';
import { createSocket } from 'node:dgram';
import { createServer, isIPv4 } from 'node:net';
import type { PortMapping } from '../../records';

/** A published port and whose it is (an endpoint's key). */
export interface Published extends PortMapping {
  owner: string;
}

const describe = (p: PortMapping) => `${p.hostIp || '0.0.0.0'}:${p.hostPort}/${p.protocol}`;

/** Binds the port (0: any free one) and lets it go; answers the port bound. */
function probe(protocol: 'tcp' | 'udp', hostIp: string, port: number): Promise<number> {
  const host = hostIp || '0.0.0.0';
  return new Promise((resolve, reject) => {
    if (protocol === 'udp') {
      const socket = createSocket('udp4');
      socket.once('error', reject);
      socket.bind({ port, address: host, exclusive: true }, () => {
        const bound = socket.address().port;
        socket.close(() => resolve(bound));
      });
      return;
    }
    const server = createServer();
    server.once('error', reject);
    server.listen({ port, host, exclusive: true }, () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : port));
    });
  });
}

const clash = (a: PortMapping, b: PortMapping) =>
  a.protocol === b.protocol && a.hostPort === b.hostPort && (!a.hostIp || !b.hostIp || a.hostIp === b.hostIp);

/**
 * The host ports to publish `wanted` on, checked against `published` and the host: AlreadyExists
 * naming the endpoint that publishes one, FailedPrecondition when a process has one bound,
 * InvalidArgument for a host address that is not this host's.
 */
export async function choosePorts(wanted: readonly PortMapping[], published: readonly Published[]): Promise<PortMapping[]> {
  const chosen: PortMapping[] = [];
  for (const w of wanted) {
    if (!Number.isInteger(w.containerPort) || w.containerPort < 1 || w.containerPort > 65535) {
      throw invalidArgument(`container port ${w.containerPort} is not a port number (1-65535)`);
    }
    if (!Number.isInteger(w.hostPort) || w.hostPort < 0 || w.hostPort > 65535)
      throw invalidArgument(`host port ${w.hostPort} is not a port number`);
    const { hostPortEnd, ...single } = w;
    if (
      hostPortEnd !== undefined &&
      hostPortEnd !== 0 &&
      (!Number.isInteger(hostPortEnd) || hostPortEnd > 65535 || hostPortEnd <= w.hostPort || !w.hostPort)
    )
      throw invalidArgument(`host ports ${w.hostPort}-${hostPortEnd} are not a range of ports`);
    // The DNAT rules are IPv4 (ruleset.ts), as the contract's host addresses are.
    if (w.hostIp && !isIPv4(w.hostIp)) throw invalidArgument(`host ip "${w.hostIp}" of a published port is not an IPv4 address`);
    const taken = [...published, ...chosen.map((c) => ({ ...c, owner: 'this endpoint' }))];
    if (!hostPortEnd) {
      chosen.push(await choosePort(single, taken));
      continue;
    }
    let found: PortMapping | undefined;
    for (let port = w.hostPort; !found && port <= hostPortEnd; port++) {
      found = await choosePort({ ...single, hostPort: port }, taken).catch((err: unknown) => {
        if (isKind(err, ErrorKind.AlreadyExists) || isKind(err, ErrorKind.FailedPrecondition)) return undefined;
        throw err;
      });
    }
    if (!found) {
      const range = `${w.hostIp || '0.0.0.0'}:${w.hostPort}-${hostPortEnd}/${w.protocol}`;
      throw new EngineError(ErrorKind.FailedPrecondition, `no host port of ${range} is free (each is published or bound by a process)`);
    }
    chosen.push(found);
  }
  return chosen;
}

/** One host port (0: any free one) for w, clear of `taken` and of the host's sockets. */
async function choosePort(w: PortMapping, taken: readonly Published[]): Promise<PortMapping> {
  for (let attempt = 0; ; attempt++) {
    let port: number;
    try {
      port = await probe(w.protocol, w.hostIp, w.hostPort);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') {
        throw new EngineError(ErrorKind.FailedPrecondition, `host port ${describe(w)} is already in use by a process on the host`);
      }
      if (code === 'EADDRNOTAVAIL' || code === 'EINVAL')
        throw invalidArgument(`host ip ${w.hostIp} of port ${describe(w)} is not an address of this host`);
      throw err;
    }
    const mapping = { ...w, hostPort: port };
    const holder = taken.find((t) => clash(t, mapping));
    if (!holder) return mapping;
    // A port the kernel offered may be one we publish (nothing binds it): ask again.
    if (w.hostPort === 0 && attempt < 100) continue;
    throw alreadyExists(`host port ${describe(mapping)} is already published by ${holder.owner}`);
  }
}
