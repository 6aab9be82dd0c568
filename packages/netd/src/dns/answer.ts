/**
 * What the network's resolver says to one question, decided without the network: an answer of
 * its own for a name on the network, or "forward" for every other name. dns-packet is the codec.
 */
import * as dnsPacket from 'dns-packet';
import { isIP } from 'node:net';

/**
 * The addresses of a container name or alias on the network (lowercase, no trailing dot), or
 * undefined when no container has it. Called per question, so answers follow containers.
 */
export type NameLookup = (name: string) => readonly string[] | undefined;

/** The name of a container's address on the network (`<name>.<network>`), or undefined. */
export type AddressLookup = (address: string) => string | undefined;

/** How long a client may keep an answer about a container: short, as containers come and go. */
export const LOCAL_TTL_SECONDS = 10;

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2 } as const;

export type Decision = { kind: 'answer'; response: Buffer } | { kind: 'forward' } | { kind: 'drop' };

/**
 * Answers a query for a name of the network: its A or AAAA records, or none (NOERROR, no data)
 * for a name it has with no address of that family or a question of another type, so that the
 * client does not wait on the upstream for them. `network` also answers `<name>.<network>`.
 */
export function decide(query: Buffer, lookup: NameLookup, network?: string, reverse?: AddressLookup): Decision {
  let packet: dnsPacket.DecodedPacket;
  try {
    packet = dnsPacket.decode(query);
  } catch {
    return query.length >= 2 ? { kind: 'answer', response: bareResponse(query, RCODE.FORMERR) } : { kind: 'drop' };
  }
  if (packet.type !== 'query') return { kind: 'drop' };
  const question = packet.questions?.[0];
  if (!question || packet.questions!.length !== 1) return { kind: 'answer', response: respond(packet, RCODE.FORMERR, []) };
  if (question.type === 'PTR') {
    const address = reversedIPv4(question.name);
    const name = address && reverse?.(address);
    if (!name) return { kind: 'forward' };
    const answer = { type: 'PTR' as const, class: 'IN' as const, name: question.name, ttl: LOCAL_TTL_SECONDS, data: name };
    return { kind: 'answer', response: respond(packet, RCODE.NOERROR, [answer]) };
  }
  const addresses = localAddresses(question.name, lookup, network);
  if (!addresses) return { kind: 'forward' };
  const family = question.type === 'A' ? 4 : question.type === 'AAAA' ? 6 : 0;
  const answers = addresses
    .filter((address) => family !== 0 && isIP(address) === family)
    .map((data) => ({ type: question.type as 'A' | 'AAAA', class: 'IN' as const, name: question.name, ttl: LOCAL_TTL_SECONDS, data }));
  return { kind: 'answer', response: respond(packet, RCODE.NOERROR, answers) };
}

/** SERVFAIL to a query, when no upstream answered it. */
export function serverFailure(query: Buffer): Buffer {
  try {
    return respond(dnsPacket.decode(query), RCODE.SERVFAIL, []);
  } catch {
    return bareResponse(query, RCODE.SERVFAIL);
  }
}

/** The address of a reverse question ("4.3.2.1.in-addr.arpa" is 1.2.3.4), or undefined. */
function reversedIPv4(questionName: string): string | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.in-addr\.arpa\.?$/i.exec(questionName);
  if (!m) return undefined;
  const address = [m[4], m[3], m[2], m[1]].join('.');
  return isIP(address) === 4 ? address : undefined;
}

function localAddresses(questionName: string, lookup: NameLookup, network: string | undefined): readonly string[] | undefined {
  const name = questionName.toLowerCase().replace(/\.$/, '');
  const found = lookup(name);
  if (found || !network) return found;
  const suffix = `.${network.toLowerCase()}`;
  return name.endsWith(suffix) ? lookup(name.slice(0, -suffix.length)) : undefined;
}

function respond(query: dnsPacket.DecodedPacket, rcode: number, answers: dnsPacket.Answer[]): Buffer {
  return dnsPacket.encode({
    type: 'response',
    id: query.id,
    flags: (query.flags! & dnsPacket.RECURSION_DESIRED) | dnsPacket.RECURSION_AVAILABLE | rcode,
    questions: query.questions,
    answers,
  });
}

/** A header-only response for a query too broken to decode: its id, QR set, the rcode. */
function bareResponse(query: Buffer, rcode: number): Buffer {
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2);
  header.writeUInt16BE(0x8000 | dnsPacket.RECURSION_AVAILABLE | rcode, 2);
  return header;
}
