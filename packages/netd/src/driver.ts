/**
 * A network driver: what one kind of network ("bridge", "cni") does on the host. The service
 * keeps the records (networks, endpoints, IPAM allocations) in its database and serialises
 * changes per network; a driver only makes the host match them. Drivers are registered by name
 * (drivers/index.ts), as snapshotter drivers are.
 *
 * Every method leaves nothing half-made: on error it undoes what it did before throwing (an
 * ErrorKind-carrying error, e.g. InvalidArgument naming the bad field).
 */
import type { Bandwidth, Endpoint, Network, PortMapping } from './records';

/** What Attach asks of a driver once the service has checked the request. */
export interface AttachPlan {
  /** The containerd namespace of the call: endpoints (and a driver's names for them) are per namespace. */
  namespace: string;
  containerId: string;
  netnsPath: string;
  interfaceName: string;
  name: string;
  aliases: string[];
  /** Static addresses asked for (no prefix), empty for dynamic. IPAM is the driver's (bridge: netd's own, ipam.ts). */
  ipv4Address: string;
  ipv6Address: string;
  macAddress: string;
  ports: PortMapping[];
  bandwidth: Bandwidth;
}

export interface NetworkDriver {
  readonly name: string;
  /**
   * Checks and completes a network about to be created (fills in subnet, gateway, bridge name,
   * parses a conflist) and makes what it needs on the host now, if anything (a bridge may also be
   * made on first attach). `others` are the existing networks, for overlap checks.
   */
  create(network: Network, others: readonly Network[]): Promise<Network>;
  /** Removes everything of the network from the host; the service has checked it has no endpoints. */
  remove(network: Network): Promise<void>;
  /** Connects a netns; answers the endpoint as the service will store and return it. */
  attach(network: Network, plan: AttachPlan): Promise<Endpoint>;
  /** Disconnects; must succeed when things are already gone (the netns deleted, a veth missing). */
  detach(network: Network, endpoint: Endpoint): Promise<void>;
  /**
   * At service start, and after a crash: makes the host match the records again (bridges,
   * firewall rules, tc) and answers the endpoints whose netns is gone, which the service then
   * releases with detach.
   */
  reconcile(network: Network, endpoints: readonly Endpoint[]): Promise<Endpoint[]>;
  /**
   * Optional: at start, after reconcile of every network (of every driver) and the release of the
   * dead endpoints, with the endpoints of this driver's networks that live on: removes from the
   * host what a crash left that no record holds (a bridge of a removed network, a half-made veth).
   * Called also when the driver has no network at all.
   */
  settle?(live: readonly Endpoint[]): Promise<void>;
}

/** The part of an endpoint every driver answers as the plan asked it. */
export const plannedEndpoint = (network: Network, plan: AttachPlan) => ({
  containerId: plan.containerId,
  network: network.name,
  networkId: network.id,
  name: plan.name,
  aliases: plan.aliases,
  netnsPath: plan.netnsPath,
});
