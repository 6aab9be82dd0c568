/** A DNS client and a fake upstream server for the resolver's tests (dns-packet is the codec). */
import * as dnsPacket from 'dns-packet';
import { createSocket } from 'node:dgram';
import { type Server, createConnection, createServer } from 'node:net';
import { frame, takeMessage } from '../src/dns/forward';

/** The fake upstream's only name and its address; every other name is NXDOMAIN there. */
export const OUTSIDE = { name: 'outside.example', address: '192.0.2.7' };

export function addressLine(address: string): RegExp {
  return new RegExp(`^Address:\\s*${address.replace(/\./g, '\\.')}$`, 'm');
}

/** dns-packet's decoded packet; its types leave out the rcode it decodes. */
export type Reply = dnsPacket.DecodedPacket & { rcode: string };

export function addresses(packet: Reply): string[] {
  return (packet.answers ?? []).map((answer) => ('data' in answer ? String(answer.data) : ''));
}

function query(name: string, type: 'A' | 'AAAA' | 'MX' | 'PTR'): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id: Math.floor(Math.random() * 65535),
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name }],
  });
}

/** A query over UDP, from `from` (an address of this host) if given. */
export function queryUdp(server: string, name: string, type: 'A' | 'AAAA' | 'MX' | 'PTR', port = 53, from?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    if (from) socket.bind(0, from);
    socket.on('error', (err) => {
      socket.close();
      reject(err);
    });
    socket.on('message', (message) => {
      socket.close();
      resolve(dnsPacket.decode(message) as Reply);
    });
    socket.send(query(name, type), port, server);
  });
}

export function queryTcp(server: string, name: string, type: 'A' | 'AAAA' | 'MX' | 'PTR', port = 53): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: server, port }, () => socket.write(frame(query(name, type))));
    let received: Buffer = Buffer.alloc(0);
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const taken = takeMessage(received);
      if (!taken) return;
      socket.destroy();
      resolve(dnsPacket.decode(taken.message) as Reply);
    });
  });
}

export interface FakeUpstream {
  asked(): number;
  close(): Promise<void>;
}

/** A tiny authoritative server over UDP and TCP: `outside` has an IPv4 address, every other name is NXDOMAIN. */
export async function fakeUpstream(address: string, outside = OUTSIDE): Promise<FakeUpstream> {
  let asked = 0;
  const answer = (message: Buffer): Buffer => {
    asked++;
    const request = dnsPacket.decode(message);
    const question = request.questions![0]!;
    const known = question.name === outside.name;
    return dnsPacket.encode({
      type: 'response',
      id: request.id,
      flags: known ? 0 : 3, // 3: NXDOMAIN
      questions: request.questions,
      answers: known && question.type === 'A' ? [{ type: 'A', name: question.name, ttl: 60, data: outside.address }] : [],
    });
  };
  const udp = createSocket('udp4');
  udp.on('message', (message, client) => udp.send(answer(message), client.port, client.address));
  await new Promise<void>((resolve) => udp.bind(53, address, resolve));
  const tcp: Server = createServer((connection) => {
    let received: Buffer = Buffer.alloc(0);
    connection.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const taken = takeMessage(received);
      if (taken) connection.end(frame(answer(taken.message)));
    });
  });
  await new Promise<void>((resolve) => tcp.listen(53, address, resolve));
  return {
    asked: () => asked,
    close: async () => {
      await new Promise<void>((resolve) => udp.close(() => resolve()));
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
    },
  };
}
