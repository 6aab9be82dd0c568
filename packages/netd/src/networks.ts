/**
 * The netd API as TypeScript sees it, the same on both sides of the wire: the service implements
 * it, `NetworksClient` (client.ts) speaks it over ctl.netd.v1. Networks are global, as Docker's
 * are; endpoints belong to the namespace of the call (containerd's namespace header), so two
 * namespaces' containers of one id never share an endpoint.
 */
import type { Bandwidth, Endpoint, Network, PortMapping, Subnet } from './records';

/** A network to create: a name, and whatever of the rest the user chose (netd fills in the others). */
export interface NewNetwork {
  name: string;
  driver?: string;
  ipv4?: Partial<Subnet>;
  ipv6?: Partial<Subnet>;
  internal?: boolean;
  labels?: Record<string, string>;
  options?: Record<string, string>;
  /** Names resolve on the network; default true for every network but the default "bridge". */
  dns?: boolean;
}

export interface AttachRequest {
  containerId: string;
  network: string;
  netnsPath: string;
  interfaceName?: string;
  name?: string;
  aliases?: string[];
  ipv4Address?: string;
  ipv6Address?: string;
  macAddress?: string;
  ports?: PortMapping[];
  bandwidth?: Partial<Bandwidth>;
  /** The container's own upstream DNS servers (--dns), for the network's resolver. */
  dnsUpstreams?: string[];
}

export interface Networks {
  create(network: NewNetwork, options?: { ifNotExists?: boolean }): Promise<Network>;
  inspect(name: string): Promise<{ network: Network; endpoints: Endpoint[] }>;
  list(filters?: string[]): Promise<Network[]>;
  remove(name: string): Promise<void>;
  attach(request: AttachRequest): Promise<Endpoint>;
  /** From one network, or from all of them when network is empty; nothing attached is no error. */
  detach(containerId: string, network?: string): Promise<void>;
  listEndpoints(filter?: { network?: string; containerId?: string }): Promise<Endpoint[]>;
}
