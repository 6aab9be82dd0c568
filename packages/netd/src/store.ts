/**
 * netd's records in its LevelDB (layout.ts): networks, endpoints and IPAM allocations. No host
 * work here: the service decides, the drivers touch the host, this only reads and writes.
 */
import type { Database } from '@ctl/proto';
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
  constructor(readonly db: Database) {}

  async networks(): Promise<Network[]> {
    const out: Network[] = [];
    for await (const value of this.db.values(under(NETWORK_PREFIX))) out.push(value as Network);
    return out;
  }

  putNetwork(network: Network): Promise<void> {
    return this.db.put(networkKey(network.id), network);
  }

  deleteNetwork(id: string): Promise<void> {
    return this.db.del(networkKey(id));
  }

  /**
   * Every endpoint of every namespace, those of one namespace, or those of one container (its
   * keys are together: attach and detach read only them, not the namespace's).
   */
  async endpoints(namespace?: string, containerId?: string): Promise<NamespacedEndpoint[]> {
    const prefix =
      namespace === undefined ? ENDPOINT_PREFIX : `${ENDPOINT_PREFIX}${namespace}/${containerId === undefined ? '' : `${containerId}/`}`;
    const out: NamespacedEndpoint[] = [];
    for await (const [key, value] of this.db.iterator(under(prefix))) {
      const endpoint = value as Endpoint;
      // exact: an id with a slash would share the prefix of a shorter one
      if (containerId !== undefined && endpoint.containerId !== containerId) continue;
      out.push({ namespace: key.slice(ENDPOINT_PREFIX.length).split('/')[0]!, endpoint });
    }
    return out;
  }

  async endpoint(namespace: string, containerId: string, networkId: string): Promise<Endpoint | undefined> {
    return (await this.db.get(endpointKey(namespace, containerId, networkId))) as Endpoint | undefined;
  }

  putEndpoint(namespace: string, endpoint: Endpoint): Promise<void> {
    return this.db.put(endpointKey(namespace, endpoint.containerId, endpoint.networkId), endpoint);
  }

  /** Deletes the endpoint and the addresses it holds, in one write. */
  async deleteEndpoint(namespace: string, endpoint: Endpoint): Promise<void> {
    const batch = this.db.batch().del(endpointKey(namespace, endpoint.containerId, endpoint.networkId));
    for (const ip of endpoint.ips) batch.del(ipamKey(endpoint.networkId, ip.address.split('/')[0]!));
    await batch.write();
  }

  /** The addresses taken on a network, and by whom. */
  async allocations(networkId: string): Promise<Map<string, Owner>> {
    const prefix = ipamPrefix(networkId);
    const out = new Map<string, Owner>();
    for await (const [key, value] of this.db.iterator(under(prefix))) out.set(key.slice(prefix.length), value as Owner);
    return out;
  }

  allocate(networkId: string, address: string, owner: Owner): Promise<void> {
    return this.db.put(ipamKey(networkId, address), owner);
  }

  async release(networkId: string, addresses: readonly string[]): Promise<void> {
    if (addresses.length)
      await this.db.batch(addresses.map((a) => ({ type: 'del' as const, key: ipamKey(networkId, a) }))).then(() => undefined);
  }
}
