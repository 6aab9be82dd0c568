/**
 * The name service of netd's networks: one resolver (dns/) per network with DNS, on its IPv4
 * gateway, in netd's process, answering from an index of the network's endpoints kept here as
 * the manager attaches and releases them (the resolver asks per question, so answers follow
 * containers as they come and go).
 *
 * Names are per containerd namespace, as every other resource: a container is answered the names
 * and aliases of the network's containers of its own namespace (found by its address), and
 * `<name>.<network>`; a client that is no endpoint (the host) gets no local answers. Every other
 * question goes to the container's own upstreams (its --dns), else the host's servers as
 * buildResolvConf chooses them (read again at each start or attach); on an internal network to
 * none (SERVFAIL): it has no way out.
 */
import type { Logger } from '@ctl/proto';
import { type Resolver, startResolver } from './dns';
import { type ResolvConf, buildResolvConf, readHostResolvConf } from './dns/resolv-conf';
import type { Endpoint, Network } from './records';

export interface ResolversOptions {
  /** 53 unless told (tests). */
  port?: number;
  /** The host's resolv.conf; readHostResolvConf (Docker's way, behind systemd-resolved's stub) unless told. */
  hostResolvConf?: () => Promise<ResolvConf>;
}

interface Entry {
  namespace: string;
  endpoint: Endpoint;
}

const address = (cidr: string): string => cidr.split('/')[0]!;
const entryKey = (namespace: string, endpoint: Endpoint): string => `${namespace}\0${endpoint.containerId}`;

export class NetworkResolvers {
  private readonly running = new Map<string, Resolver>();
  /** Endpoints by network id, then by namespace and container. */
  private readonly endpoints = new Map<string, Map<string, Entry>>();
  private hostUpstreams: string[] = [];

  constructor(
    private readonly logger: Logger,
    private readonly options: ResolversOptions = {},
  ) {}

  /**
   * Starts the network's resolver unless it runs (its bridge must hold the gateway by now): its
   * address, or undefined for a network without DNS or without a gateway of this host's (a cni
   * network before its first attach) or when the address is taken (logged; its containers then
   * use the host's servers).
   */
  async ensure(network: Network): Promise<string | undefined> {
    const gateway = network.ipv4?.gateway;
    if (!network.dns || !gateway) return undefined;
    await this.refreshHostUpstreams(gateway);
    if (this.running.has(network.id)) return gateway;
    try {
      this.running.set(
        network.id,
        await startResolver({
          address: gateway,
          port: this.options.port,
          network: network.name,
          lookup: (name, client) => this.lookup(network.id, name, client),
          reverse: (address, client) => this.reverse(network.id, address, client),
          upstream: (client) => (network.internal ? [] : this.upstreams(network.id, client)),
        }),
      );
      this.logger.debug('resolver started', { network: network.name, address: gateway });
      return gateway;
    } catch (err) {
      this.logger.warn('no resolver for network', { network: network.name, error: String(err) });
      return undefined;
    }
  }

  async stop(networkId: string): Promise<void> {
    await this.running.get(networkId)?.close();
    this.running.delete(networkId);
    this.endpoints.delete(networkId);
  }

  async close(): Promise<void> {
    await Promise.all([...this.running.keys()].map((id) => this.stop(id)));
  }

  add(namespace: string, endpoint: Endpoint): void {
    let entries = this.endpoints.get(endpoint.networkId);
    if (!entries) this.endpoints.set(endpoint.networkId, (entries = new Map()));
    entries.set(entryKey(namespace, endpoint), { namespace, endpoint });
  }

  remove(namespace: string, endpoint: Endpoint): void {
    this.endpoints.get(endpoint.networkId)?.delete(entryKey(namespace, endpoint));
  }

  private async refreshHostUpstreams(resolver: string): Promise<void> {
    try {
      const host = await (this.options.hostResolvConf ?? readHostResolvConf)();
      this.hostUpstreams = buildResolvConf({ host, resolver }).upstreams;
    } catch (err) {
      this.logger.warn("the host's resolv.conf could not be read", { error: String(err) });
    }
  }

  private client(networkId: string, client: string): Entry | undefined {
    const entries = this.endpoints.get(networkId)?.values() ?? [];
    for (const entry of entries) if (entry.endpoint.ips.some((ip) => address(ip.address) === client)) return entry;
    return undefined;
  }

  /**
   * A container's resolv.conf names one resolver (its first network's), so it answers the names of
   * every network the container is on, as docker's does: the asked network's first, then the others'
   * (the addresses a name has on a network the two share).
   */
  private lookup(networkId: string, name: string, client: string): string[] | undefined {
    for (const endpoints of this.visible(networkId, client)) {
      const found = endpoints
        .filter((endpoint) => [endpoint.name, ...endpoint.aliases].some((n) => n.toLowerCase() === name))
        .flatMap((endpoint) => endpoint.ips.map((ip) => address(ip.address)));
      if (found.length) return found;
    }
    return undefined;
  }

  /** PTR: `<name>.<network>` of a container's address that the asking container may see (docker's answer). */
  private reverse(networkId: string, wanted: string, client: string): string | undefined {
    for (const endpoints of this.visible(networkId, client)) {
      const found = endpoints.find((endpoint) => endpoint.ips.some((ip) => address(ip.address) === wanted));
      if (found) return `${found.name}.${found.network}`;
    }
    return undefined;
  }

  /** The endpoints of the asking container's namespace on each network it is on: the asked network's first. */
  private *visible(networkId: string, client: string): Generator<Endpoint[]> {
    const asking = this.client(networkId, client);
    if (!asking) return;
    const key = entryKey(asking.namespace, asking.endpoint);
    const others = [...this.endpoints].filter(([id, entries]) => id !== networkId && entries.has(key)).map(([id]) => id);
    for (const id of [networkId, ...others])
      yield [...(this.endpoints.get(id)?.values() ?? [])].filter((e) => e.namespace === asking.namespace).map((e) => e.endpoint);
  }

  private upstreams(networkId: string, client: string): string[] {
    const own = this.client(networkId, client)?.endpoint.dnsUpstreams ?? [];
    return own.length ? own : this.hostUpstreams;
  }
}
