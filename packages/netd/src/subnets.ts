/**
 * Subnets of networks: completing and checking what the user gave (gateway inside, no overlap
 * with another network), and picking a free one from the pools when they gave none, clear of
 * the other networks and of the host's routes. Shared by the drivers that do their own IPAM.
 */
import { invalidArgument } from '@ctl/proto';
import { type Prefix, contains, formatAddress, formatPrefix, last, overlaps, parseAddress, parsePrefix } from './addr';
import type { Network, Subnet } from './records';

/** Docker's default pools: 172.17–172.31 as /16s, then 192.168.0.0/16 as /20s. */
export function* ipv4Pool(): Generator<string> {
  for (let b = 17; b <= 31; b++) yield `172.${b}.0.0/16`;
  for (let c = 0; c < 256; c += 16) yield `192.168.${c}.0/20`;
}

/** A subnet as given (CIDR, optional gateway and range), checked and with its gateway filled in. */
export function completeSubnet(given: Partial<Subnet>, family: 4 | 6, network: string): Subnet {
  const subnet = parsePrefix(given.subnet ?? '', `subnet of network ${network}`);
  if (subnet.family !== family) throw invalidArgument(`subnet ${given.subnet} of network ${network} is not IPv${family}`);
  if (subnet.length > (family === 4 ? 30 : 126)) throw invalidArgument(`subnet ${given.subnet} of network ${network} is too small`);
  const gateway = given.gateway ? parseAddress(given.gateway, `gateway of network ${network}`) : { family, value: subnet.base + 1n };
  if (!contains(subnet, gateway.family, gateway.value) || gateway.value === subnet.base || gateway.value === last(subnet)) {
    throw invalidArgument(`gateway ${given.gateway} of network ${network} is not a host address of its subnet ${formatPrefix(subnet)}`);
  }
  let ipRange = '';
  if (given.ipRange) {
    const range = parsePrefix(given.ipRange, `ip range of network ${network}`);
    if (range.family !== family || range.base < subnet.base || last(range) > last(subnet)) {
      throw invalidArgument(`ip range ${given.ipRange} of network ${network} is outside its subnet ${formatPrefix(subnet)}`);
    }
    ipRange = formatPrefix(range);
  }
  return { subnet: formatPrefix(subnet), gateway: formatAddress(family, gateway.value), ipRange };
}

/** InvalidArgument naming the other network when the subnet overlaps one of theirs. */
export function checkOverlap(name: string, subnet: string, others: readonly Network[]): void {
  const mine = parsePrefix(subnet);
  for (const other of others) {
    for (const theirs of [other.ipv4?.subnet, other.ipv6?.subnet]) {
      if (theirs && overlaps(mine, parsePrefix(theirs))) {
        throw invalidArgument(`subnet ${subnet} of network ${name} overlaps subnet ${theirs} of network ${other.name}`);
      }
    }
  }
}

/** The first subnet of the candidates that overlaps neither another network nor a host route. */
export function pickSubnet(name: string, candidates: Iterable<string>, others: readonly Network[], routes: readonly Prefix[]): string {
  const taken = [
    ...others
      .flatMap((n) => [n.ipv4?.subnet, n.ipv6?.subnet])
      .filter((s): s is string => Boolean(s))
      .map((s) => parsePrefix(s)),
    ...routes,
  ];
  for (const candidate of candidates) {
    const p = parsePrefix(candidate);
    if (!taken.some((t) => overlaps(p, t))) return candidate;
  }
  throw invalidArgument(`no free subnet left in the default pools for network ${name}: give one with a subnet`);
}
