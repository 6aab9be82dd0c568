/**
 * Addresses of the networks whose driver does its own IPAM (bridge), kept in netd's database so
 * that no address is given twice, across concurrent attaches (the caller holds the network's
 * turn) and restarts. An address is taken before the host is touched; the endpoint's record,
 * written after, is what keeps it (store.ts deletes both together).
 */
import { EngineError, ErrorKind, alreadyExists, invalidArgument } from '@ctl/proto';
import { contains, formatAddress, last, parseAddress, parsePrefix } from './addr';
import type { Network } from './records';
import type { NetdStore, Owner } from './store';

/** An address taken: with the subnet's prefix length (CIDR) and the gateway, as an endpoint lists it. */
export interface Lease {
  address: string;
  cidr: string;
  gateway: string;
}

export class Ipam {
  constructor(private readonly store: NetdStore) {}

  /**
   * Takes `wanted` on the network's IPv4 or IPv6 subnet, or when empty the lowest free address of
   * its range. InvalidArgument for an address outside the subnet or reserved (network, gateway,
   * broadcast); AlreadyExists naming the holder when taken; ResourceExhausted when none is left.
   */
  async take(network: Network, family: 4 | 6, owner: Owner, wanted = ''): Promise<Lease> {
    const subnet = family === 4 ? network.ipv4 : network.ipv6;
    if (!subnet?.subnet) throw invalidArgument(`network ${network.name} has no IPv${family} subnet`);
    const prefix = parsePrefix(subnet.subnet);
    const gateway = parseAddress(subnet.gateway).value;
    const reserved = (v: bigint) => v === prefix.base || v === gateway || (family === 4 && v === last(prefix));
    const taken = await this.store.allocations(network.id);
    let value: bigint;
    if (wanted) {
      const w = parseAddress(wanted, `address for network ${network.name}`);
      if (!contains(prefix, w.family, w.value))
        throw invalidArgument(`address ${wanted} is outside subnet ${subnet.subnet} of network ${network.name}`);
      if (reserved(w.value))
        throw invalidArgument(`address ${wanted} is reserved on network ${network.name} (network, gateway or broadcast)`);
      const holder = taken.get(formatAddress(family, w.value));
      if (holder) throw alreadyExists(`address ${wanted} is already in use on network ${network.name} by container ${holder.containerId}`);
      value = w.value;
    } else {
      const range = subnet.ipRange ? parsePrefix(subnet.ipRange) : prefix;
      let v = range.base;
      while (v <= last(range) && (reserved(v) || taken.has(formatAddress(family, v)))) v++;
      if (v > last(range)) {
        throw new EngineError(
          ErrorKind.ResourceExhausted,
          `no free address left on network ${network.name} (${subnet.ipRange || subnet.subnet})`,
        );
      }
      value = v;
    }
    const address = formatAddress(family, value);
    await this.store.allocate(network.id, address, owner);
    return { address, cidr: `${address}/${prefix.length}`, gateway: subnet.gateway };
  }

  release(network: Network, leases: readonly Lease[]): Promise<void> {
    return this.store.release(
      network.id,
      leases.map((l) => l.address),
    );
  }
}
