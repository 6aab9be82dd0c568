/**
 * ctl.netd.v1 messages to and from netd's records, for both ends of the wire (client.ts and the
 * service's gRPC handlers): light, so the command line can load it.
 */
import type { Endpoint__Output, Endpoint as WireEndpoint } from '@ctl/proto/generated/ctl/netd/v1/Endpoint';
import type { Network__Output, Network as WireNetwork } from '@ctl/proto/generated/ctl/netd/v1/Network';
import type { PortMapping__Output } from '@ctl/proto/generated/ctl/netd/v1/PortMapping';
import type { Subnet__Output } from '@ctl/proto/generated/ctl/netd/v1/Subnet';
import { fromTimestamp, parseTime, toTimestamp } from '@ctl/proto/time';
import type { Endpoint, Network, PortMapping, Subnet } from './records';

const subnetFromWire = (s: Subnet__Output | null): Subnet | undefined =>
  s && s.subnet ? { subnet: s.subnet, gateway: s.gateway, ipRange: s.ipRange } : undefined;

const timeToWire = (iso: string) => (iso ? toTimestamp(parseTime(iso)) : null);
const timeFromWire = (t: Parameters<typeof fromTimestamp>[0]) => (t ? fromTimestamp(t).toISOString() : '');

export const portFromWire = (p: PortMapping__Output): PortMapping => ({
  protocol: p.protocol === 'udp' ? 'udp' : 'tcp',
  hostIp: p.hostIp,
  hostPort: p.hostPort,
  containerPort: p.containerPort,
  ...(p.hostPortEnd ? { hostPortEnd: p.hostPortEnd } : {}),
});

export const networkToWire = (n: Network): WireNetwork => ({
  ...n,
  ipv4: n.ipv4 ?? null,
  ipv6: n.ipv6 ?? null,
  createdAt: timeToWire(n.createdAt),
});

export const networkFromWire = (n: Network__Output | null): Network => ({
  name: n?.name ?? '',
  id: n?.id ?? '',
  driver: n?.driver ?? '',
  ipv4: subnetFromWire(n?.ipv4 ?? null),
  ipv6: subnetFromWire(n?.ipv6 ?? null),
  internal: Boolean(n?.internal),
  labels: n?.labels ?? {},
  options: n?.options ?? {},
  createdAt: timeFromWire(n?.createdAt),
  bridge: n?.bridge ?? '',
  dns: Boolean(n?.dns),
});

export const endpointToWire = (e: Endpoint): WireEndpoint => ({ ...e, createdAt: timeToWire(e.createdAt) });

export const endpointFromWire = (e: Endpoint__Output | null): Endpoint => ({
  containerId: e?.containerId ?? '',
  network: e?.network ?? '',
  networkId: e?.networkId ?? '',
  name: e?.name ?? '',
  aliases: e?.aliases ?? [],
  netnsPath: e?.netnsPath ?? '',
  interface: { name: e?.interface?.name ?? '', macAddress: e?.interface?.macAddress ?? '', hostName: e?.interface?.hostName ?? '' },
  ips: (e?.ips ?? []).map((ip) => ({ address: ip.address, gateway: ip.gateway })),
  routes: (e?.routes ?? []).map((r) => ({ destination: r.destination, gateway: r.gateway })),
  dns: { nameservers: e?.dns?.nameservers ?? [], search: e?.dns?.search ?? [], options: e?.dns?.options ?? [] },
  ports: (e?.ports ?? []).map(portFromWire),
  bandwidth: { egressBps: e?.bandwidth?.egressBps ?? 0, ingressBps: e?.bandwidth?.ingressBps ?? 0 },
  createdAt: timeFromWire(e?.createdAt),
  dnsUpstreams: e?.dnsUpstreams ?? [],
});
