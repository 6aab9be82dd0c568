/**
 * netd's domain: networks and endpoints over the store and the drivers. It checks requests,
 * keeps the records, and runs every change of a network one at a time (its id's turn; creates
 * and removes also take the "networks" turn, so names and subnets are checked against a list
 * that cannot change meanwhile); the drivers make the host match.
 */
import { type Logger, alreadyExists, failedPrecondition, invalidArgument, notFound, validateLabels, validateNamespace } from '@ctl/proto';
import { traced } from '@ctl/proto/trace';
import { parseFilters } from '@ctl/proto/filters';
import { randomBytes } from 'node:crypto';
import type { NetworkDriver } from './driver';
import type { AttachRequest, Networks, NewNetwork } from './networks';
import type { Endpoint, Network } from './records';
import type { NetworkResolvers } from './resolvers';
import { KeyedQueue } from '@ctl/proto/keyed-queue';
import { type NamespacedEndpoint, type NetdStore } from './store';

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const ALL = 'networks';

export class NetworkManager {
  private readonly serial = new KeyedQueue();

  constructor(
    private readonly store: NetdStore,
    private readonly drivers: ReadonlyMap<string, NetworkDriver>,
    private readonly logger: Logger,
    private readonly resolvers: NetworkResolvers,
  ) {}

  namespace(namespace: string): Networks {
    return new NamespacedNetworks(this, validateNamespace(namespace));
  }

  driver(network: Network): NetworkDriver {
    const d = this.drivers.get(network.driver);
    if (!d) throw failedPrecondition(`network ${network.name} has driver "${network.driver}", which this netd does not have`);
    return d;
  }

  /** A network by name, id or unique id prefix. */
  async find(ref: string): Promise<Network> {
    const byId = await this.store.network(ref);
    if (byId) return byId;
    const networks = await this.store.networks();
    const exact = networks.find((n) => n.name === ref || n.id === ref);
    if (exact) return exact;
    const byPrefix = ref ? networks.filter((n) => n.id.startsWith(ref)) : [];
    if (byPrefix.length === 1) return byPrefix[0]!;
    if (byPrefix.length > 1) throw invalidArgument(`network id prefix "${ref}" is ambiguous`);
    throw notFound(`network ${ref} not found`);
  }

  create(given: NewNetwork, ifNotExists: boolean): Promise<Network> {
    return this.serial.run(ALL, async () => {
      if (!NAME.test(given.name ?? '')) throw invalidArgument(`invalid network name "${given.name}": [a-zA-Z0-9][a-zA-Z0-9_.-]*`);
      const networks = await this.store.networks();
      const existing = networks.find((n) => n.name === given.name);
      if (existing) {
        if (ifNotExists) return existing;
        throw alreadyExists(`network with name ${given.name} already exists`);
      }
      const driverName = given.driver || 'bridge';
      const driver = this.drivers.get(driverName);
      if (!driver) throw invalidArgument(`unknown network driver "${driverName}": known are ${[...this.drivers.keys()].join(', ')}`);
      const network: Network = {
        name: given.name,
        id: randomBytes(32).toString('hex'),
        driver: driverName,
        ...(given.ipv4 ? { ipv4: { subnet: '', gateway: '', ipRange: '', ...given.ipv4 } } : {}),
        ...(given.ipv6 ? { ipv6: { subnet: '', gateway: '', ipRange: '', ...given.ipv6 } } : {}),
        internal: Boolean(given.internal),
        labels: validateLabels(given.labels ?? {}),
        options: given.options ?? {},
        createdAt: new Date().toISOString(),
        bridge: '',
        dns: given.dns ?? given.name !== 'bridge',
      };
      const made = await this.serial.run(network.id, () => driver.create(network, networks));
      try {
        await this.store.putNetwork(made);
      } catch (err) {
        await driver.remove(made).catch(() => undefined);
        throw err;
      }
      await this.resolvers.ensure(made);
      return made;
    });
  }

  async list(filters: readonly string[]): Promise<Network[]> {
    const filter = parseFilters(filters);
    const field = (n: Network, path: string[]): string | undefined => {
      const [head, key] = path;
      if (head === 'labels') return key === undefined ? undefined : n.labels[key];
      if (head === 'name' || head === 'id' || head === 'driver') return n[head];
      return undefined;
    };
    return (await this.store.networks()).filter((n) => filter.match((path) => field(n, path)));
  }

  remove(ref: string): Promise<void> {
    return this.serial.run(ALL, async () => {
      const network = await this.find(ref);
      await this.serial.run(network.id, async () => {
        const users = (await this.store.endpoints()).filter((e) => e.endpoint.networkId === network.id);
        if (users.length) {
          const names = users.map((u) => u.endpoint.name || u.endpoint.containerId).join(', ');
          throw failedPrecondition(`network ${network.name} has active endpoints (${names}): disconnect them first`);
        }
        await this.resolvers.stop(network.id); // before its gateway address goes with the bridge
        await this.driver(network).remove(network);
        await this.store.deleteNetwork(network.id);
      });
    });
  }

  async endpoints(namespace: string, filter: { network?: string; containerId?: string }): Promise<Endpoint[]> {
    const networkId = filter.network ? (await this.find(filter.network)).id : undefined;
    return (await this.store.endpoints(namespace))
      .map((e) => e.endpoint)
      .filter((e) => (!networkId || e.networkId === networkId) && (!filter.containerId || e.containerId === filter.containerId));
  }

  async attach(namespace: string, request: AttachRequest): Promise<Endpoint> {
    if (!request.containerId) throw invalidArgument('attach: a container id is needed');
    if (!request.netnsPath) throw invalidArgument('attach: a network namespace path is needed');
    const span = (what: string) => `netd.attach.${what}`;
    const { id } = await this.find(request.network);
    return this.serial.run(id, async () => {
      const network = await this.find(id); // removed while we waited: NotFound
      const mine = await traced(span('endpoints'), () => this.store.endpoints(namespace, request.containerId));
      if (mine.some((e) => e.endpoint.networkId === network.id)) {
        throw alreadyExists(`container ${request.containerId} is already attached to network ${network.name}`);
      }
      const interfaceName = request.interfaceName || nextInterface(mine.map((e) => e.endpoint.interface.name));
      if (!/^[a-zA-Z0-9_.-]{1,15}$/.test(interfaceName)) throw invalidArgument(`invalid interface name "${interfaceName}"`);
      const driver = this.driver(network);
      const endpoint = await traced(span('driver'), () =>
        driver.attach(network, {
          namespace,
          containerId: request.containerId,
          netnsPath: request.netnsPath,
          interfaceName,
          name: request.name ?? '',
          aliases: request.aliases ?? [],
          ipv4Address: request.ipv4Address ?? '',
          ipv6Address: request.ipv6Address ?? '',
          macAddress: request.macAddress ?? '',
          ports: (request.ports ?? []).map((p) => ({ ...p, protocol: p.protocol === 'udp' ? 'udp' : 'tcp' })),
          bandwidth: { egressBps: request.bandwidth?.egressBps ?? 0, ingressBps: request.bandwidth?.ingressBps ?? 0 },
        }),
      );
      // a cni network's gateway is on the host only once its plugins made the bridge
      const resolver = await this.resolvers.ensure(network);
      if (resolver) endpoint.dns = { ...endpoint.dns, nameservers: [resolver] };
      if (request.dnsUpstreams?.length) endpoint.dnsUpstreams = request.dnsUpstreams;
      try {
        await traced(span('record'), () => this.store.putEndpoint(namespace, endpoint));
      } catch (err) {
        await this.release(namespace, network, endpoint).catch(() => undefined);
        throw err;
      }
      this.resolvers.add(namespace, endpoint);
      return endpoint;
    });
  }

  async detach(namespace: string, containerId: string, networkRef: string): Promise<void> {
    const span = (what: string) => `netd.detach.${what}`;
    const networkId = networkRef ? (await this.find(networkRef)).id : undefined;
    const mine = (await traced(span('endpoints'), () => this.store.endpoints(namespace, containerId))).filter(
      (e) => !networkId || e.endpoint.networkId === networkId,
    );
    for (const { endpoint } of mine) {
      await this.serial.run(endpoint.networkId, async () => {
        const current = await this.store.endpoint(namespace, containerId, endpoint.networkId);
        if (!current) return; // detached meanwhile
        const network = await this.store.network(endpoint.networkId);
        if (network) await traced(span('release'), () => this.release(namespace, network, current));
        else await this.store.deleteEndpoint(namespace, current);
      });
    }
  }

  /** Takes the endpoint off the host, then drops its record and addresses. */
  private async release(namespace: string, network: Network, endpoint: Endpoint): Promise<void> {
    this.resolvers.remove(namespace, endpoint);
    await this.driver(network).detach(network, endpoint);
    await this.store.deleteEndpoint(namespace, endpoint);
  }

  /**
   * At start: each driver makes the host match the records of its networks; endpoints whose
   * netns is gone are released; addresses no endpoint holds (a crash mid-attach) are freed; then
   * each driver settles (sweeps what no record holds).
   */
  async reconcile(): Promise<void> {
    const endpoints = await this.store.endpoints();
    const live: NamespacedEndpoint[] = [];
    for (const network of await this.store.networks()) {
      const driver = this.drivers.get(network.driver);
      const mine = endpoints.filter((e) => e.endpoint.networkId === network.id);
      if (!driver) {
        this.logger.warn('network of an unknown driver left as it is', { network: network.name, driver: network.driver });
        continue;
      }
      let dead: Set<Endpoint>;
      try {
        dead = new Set(
          await driver.reconcile(
            network,
            mine.map((e) => e.endpoint),
          ),
        );
      } catch (err) {
        // One network the host refuses keeps neither netd nor the other networks from starting;
        // its endpoints count as live, so that nothing of theirs is swept.
        this.logger.error('network could not be reconciled', { network: network.name, error: String(err) });
        live.push(...mine);
        continue;
      }
      for (const e of mine) {
        if (!dead.has(e.endpoint)) {
          live.push(e);
          continue;
        }
        this.logger.info('releasing an endpoint whose netns is gone', { container: e.endpoint.containerId, network: network.name });
        await this.release(e.namespace, network, e.endpoint);
      }
      for (const e of mine) if (!dead.has(e.endpoint)) this.resolvers.add(e.namespace, e.endpoint);
      await this.resolvers.ensure(network);
      const held = new Set(mine.filter((e) => !dead.has(e.endpoint)).flatMap((e) => e.endpoint.ips.map((ip) => ip.address.split('/')[0]!)));
      const stray = [...(await this.store.allocations(network.id)).keys()].filter((a) => !held.has(a));
      await this.store.release(network.id, stray);
    }
    const networks = await this.store.networks();
    for (const [name, driver] of this.drivers) {
      const ids = new Set(networks.filter((n) => n.driver === name).map((n) => n.id));
      await driver
        .settle?.(live.filter((e) => ids.has(e.endpoint.networkId)).map((e) => e.endpoint))
        .catch((err: unknown) => this.logger.error('driver could not settle', { driver: name, error: String(err) }));
    }
  }
}

/** eth0, eth1, …: the lowest not yet used by the container. */
function nextInterface(used: readonly string[]): string {
  for (let i = 0; ; i++) if (!used.includes(`eth${i}`)) return `eth${i}`;
}

class NamespacedNetworks implements Networks {
  constructor(
    private readonly manager: NetworkManager,
    readonly namespace: string,
  ) {}

  create(network: NewNetwork, options: { ifNotExists?: boolean } = {}): Promise<Network> {
    return this.manager.create(network, Boolean(options.ifNotExists));
  }

  async inspect(name: string): Promise<{ network: Network; endpoints: Endpoint[] }> {
    const network = await this.manager.find(name);
    return { network, endpoints: await this.manager.endpoints(this.namespace, { network: network.id }) };
  }

  list(filters: string[] = []): Promise<Network[]> {
    return this.manager.list(filters);
  }

  remove(name: string): Promise<void> {
    return this.manager.remove(name);
  }

  attach(request: AttachRequest): Promise<Endpoint> {
    return this.manager.attach(this.namespace, request);
  }

  detach(containerId: string, network = ''): Promise<void> {
    return this.manager.detach(this.namespace, containerId, network);
  }

  listEndpoints(filter: { network?: string; containerId?: string } = {}): Promise<Endpoint[]> {
    return this.manager.endpoints(this.namespace, filter);
  }
}
