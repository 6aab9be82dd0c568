/**
 * netd's records in its LevelDB (layout.ts): networks, endpoints and IPAM allocations. No host
 * work here: the service decides, the drivers touch the host, this only reads and writes.
 *
 * The networks and each network's allocations are also kept in memory, read from the database
 * once and changed only after a write of it succeeded: every attach and detach needs them (the
 * network by name, the free addresses), and a scan of the database each time grows with every
 * network and container. netd alone writes its database (LevelDB's lock), so memory cannot fall
 * behind it.
 */
import { type Database, readRecord, inBatches } from '@ctl/proto';
import { ENDPOINT_PREFIX, NETWORK_PREFIX, endpointKey, ipamKey, ipamPrefix, networkKey, under } from './layout';
import type { Endpoint, Network } from './records';

/** Who holds an address: the endpoint it was taken for. */
export interface Owner {
  namespace: string;
  containerId: string;
}

/** An endpoint with the namespace it belongs to (the record itself does not repeat it). */
export interface NamespacedEndpoint {
  namespace: string;
  endpoint: Endpoint;
}

export class NetdStore {
  /**
   * Read once, on first use. A write waits for the read before it changes the map, so a read
   * that began before the write (and may not see it) is corrected by it, not the other way round.
   */
  private networksRead: Promise<Map<string, Network>> | undefined;
  private readonly allocationsRead = new Map<string, Promise<Map<string, Owner>>>();

  constructor(readonly db: Database) {}

  private networkMap(): Promise<Map<string, Network>> {
    return (this.networksRead ??= (async () => {
      const out = new Map<string, Network>();
      for await (const value of inBatches(this.db.values(under(NETWORK_PREFIX)))) out.set((value as Network).id, value as Network);
      return out;
    })());
  }

  /** Every network, in the order of their ids (the database's). */
  async networks(): Promise<Network[]> {
    return [...(await this.networkMap()).values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async network(id: string): Promise<Network | undefined> {
    return (await this.networkMap()).get(id);
  }

  async putNetwork(network: Network): Promise<void> {
    await this.db.put(networkKey(network.id), network);
    (await this.networkMap()).set(network.id, network);
  }

  async deleteNetwork(id: string): Promise<void> {
    await this.db.del(networkKey(id));
    (await this.networkMap()).delete(id);
    this.allocationsRead.delete(id);
  }

  /**
   * Every endpoint of every namespace, those of one namespace, or those of one container (its
   * keys are together: attach and detach read only them, not the namespace's).
   */
  async endpoints(namespace?: string, containerId?: string): Promise<NamespacedEndpoint[]> {
    const prefix =
      namespace === undefined ? ENDPOINT_PREFIX : `${ENDPOINT_PREFIX}${namespace}/${containerId === undefined ? '' : `${containerId}/`}`;
    const out: NamespacedEndpoint[] = [];
    for await (const [key, value] of inBatches(this.db.iterator(under(prefix)))) {
      const endpoint = value as Endpoint;
      // exact: an id with a slash would share the prefix of a shorter one
      if (containerId !== undefined && endpoint.containerId !== containerId) continue;
      out.push({ namespace: key.slice(ENDPOINT_PREFIX.length).split('/')[0]!, endpoint });
    }
    return out;
  }

  async endpoint(namespace: string, containerId: string, networkId: string): Promise<Endpoint | undefined> {
    return readRecord(this.db, endpointKey(namespace, containerId, networkId)) as Endpoint | undefined;
  }

  putEndpoint(namespace: string, endpoint: Endpoint): Promise<void> {
    return this.db.put(endpointKey(namespace, endpoint.containerId, endpoint.networkId), endpoint);
  }

  /** Deletes the endpoint and the addresses it holds, in one write. */
  async deleteEndpoint(namespace: string, endpoint: Endpoint): Promise<void> {
    const addresses = endpoint.ips.map((ip) => ip.address.split('/')[0]!);
    const batch = this.db.batch().del(endpointKey(namespace, endpoint.containerId, endpoint.networkId));
    for (const address of addresses) batch.del(ipamKey(endpoint.networkId, address));
    await batch.write();
    await this.forget(endpoint.networkId, addresses);
  }

  private allocationMap(networkId: string): Promise<Map<string, Owner>> {
    let read = this.allocationsRead.get(networkId);
    if (!read) {
      read = (async () => {
        const prefix = ipamPrefix(networkId);
        const out = new Map<string, Owner>();
        for await (const [key, value] of inBatches(this.db.iterator(under(prefix)))) out.set(key.slice(prefix.length), value as Owner);
        return out;
      })();
      this.allocationsRead.set(networkId, read);
    }
    return read;
  }

  /** The addresses taken on a network, and by whom (as they are now: the caller holds the network's turn). */
  allocations(networkId: string): Promise<ReadonlyMap<string, Owner>> {
    return this.allocationMap(networkId);
  }

  async allocate(networkId: string, address: string, owner: Owner): Promise<void> {
    await this.db.put(ipamKey(networkId, address), owner);
    (await this.allocationMap(networkId)).set(address, owner);
  }

  async release(networkId: string, addresses: readonly string[]): Promise<void> {
    if (!addresses.length) return;
    await this.db.batch(addresses.map((a) => ({ type: 'del' as const, key: ipamKey(networkId, a) })));
    await this.forget(networkId, addresses);
  }

  private async forget(networkId: string, addresses: readonly string[]): Promise<void> {
    const map = await this.allocationMap(networkId);
    for (const a of addresses) map.delete(a);
  }
}
