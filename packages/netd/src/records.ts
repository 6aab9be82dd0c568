/**
 * netd's records as stored (JSON in LevelDB) and passed between the service and its drivers:
 * plain objects that mirror ctl.netd.v1's messages, with times as RFC 3339 strings of nanosecond
 * precision. grpc.ts converts them to and from the wire.
 */

export interface Subnet {
  subnet: string;
  gateway: string;
  ipRange: string;
}

export interface Network {
  name: string;
  id: string;
  driver: string;
  ipv4?: Subnet;
  ipv6?: Subnet;
  internal: boolean;
  labels: Record<string, string>;
  options: Record<string, string>;
  createdAt: string;
  bridge: string;
  dns: boolean;
}

export interface PortMapping {
  protocol: 'tcp' | 'udp';
  hostIp: string;
  hostPort: number;
  containerPort: number;
  /** On attach, above hostPort: one free host port of hostPort..hostPortEnd (published ports have none). */
  hostPortEnd?: number;
}

export interface Endpoint {
  containerId: string;
  network: string;
  networkId: string;
  name: string;
  aliases: string[];
  netnsPath: string;
  interface: { name: string; macAddress: string; hostName: string };
  ips: { address: string; gateway: string }[];
  routes: { destination: string; gateway: string }[];
  dns: { nameservers: string[]; search: string[]; options: string[] };
  ports: PortMapping[];
  bandwidth: Bandwidth;
  createdAt: string;
  /** The container's own upstream servers (--dns) for the network's resolver; absent or empty: the host's. */
  dnsUpstreams?: string[];
}

/** Bits per second; 0 is no limit. Egress is what the container sends, ingress what it receives. */
export interface Bandwidth {
  egressBps: number;
  ingressBps: number;
}
