/**
 * A container's network as the container commands show it, in Docker's shapes: ps's PORTS,
 * `ctl port`'s lines, inspect's NetworkSettings (from the record's labels and netd's endpoints),
 * and stats's NET I/O (the container's netns, /proc/<pid>/net/dev, on this host).
 */
import { readFileSync } from 'node:fs';

type PortMapping = import('@ctl/netd/client').PortMapping;
type Endpoint = import('@ctl/netd/client').Endpoint;

const hostAddress = (p: PortMapping): string => p.hostIp || '0.0.0.0';

/** docker ps's PORTS: "0.0.0.0:8080->80/tcp, 127.0.0.1:53->53/udp". */
export const portsText = (ports: PortMapping[]): string =>
  ports.map((p) => `${hostAddress(p)}:${p.hostPort}->${p.containerPort}/${p.protocol}`).join(', ');

/** docker port's lines: "80/tcp -> 0.0.0.0:8080", or with a port asked for, only the host side of its mappings. */
export function portLines(ports: PortMapping[], asked?: { port: number; protocol: string }): string[] {
  if (!asked) return ports.map((p) => `${p.containerPort}/${p.protocol} -> ${hostAddress(p)}:${p.hostPort}`);
  return ports.filter((p) => p.containerPort === asked.port && p.protocol === asked.protocol).map((p) => `${hostAddress(p)}:${p.hostPort}`);
}

/** docker's NetworkSettings.Ports: {"80/tcp": [{HostIp, HostPort}]}. */
function portsMap(ports: PortMapping[]): Record<string, { HostIp: string; HostPort: string }[]> {
  const map: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const p of ports) (map[`${p.containerPort}/${p.protocol}`] ??= []).push({ HostIp: hostAddress(p), HostPort: String(p.hostPort) });
  return map;
}

const splitCidr = (cidr: string | undefined): [string, number] => {
  const [ip = '', prefix = '0'] = (cidr ?? '').split('/');
  return [ip, ip ? Number(prefix) : 0];
};

/** One endpoint as docker's NetworkSettings.Networks[name]. */
function endpointSettings(e: Endpoint): Record<string, unknown> {
  const v4 = e.ips.find((ip) => !ip.address.includes(':'));
  const v6 = e.ips.find((ip) => ip.address.includes(':'));
  const [ip, prefix] = splitCidr(v4?.address);
  const [ip6, prefix6] = splitCidr(v6?.address);
  return {
    Aliases: e.aliases,
    NetworkID: e.networkId,
    EndpointID: `${e.networkId.slice(0, 12)}-${e.containerId}`,
    Gateway: v4?.gateway ?? '',
    IPAddress: ip,
    IPPrefixLen: prefix,
    IPv6Gateway: v6?.gateway ?? '',
    GlobalIPv6Address: ip6,
    GlobalIPv6PrefixLen: prefix6,
    MacAddress: e.interface.macAddress,
    DNSNames: [e.name, ...e.aliases].filter(Boolean),
    Bandwidth: e.bandwidth,
  };
}

/**
 * docker inspect's NetworkSettings: the first endpoint's address at the top (as docker's default
 * bridge shows it), every network in Networks, the published ports; plus our NetworkMode.
 */
export function networkSettings(mode: string, ports: PortMapping[], endpoints: Endpoint[]): Record<string, unknown> {
  const first = endpoints[0] ? endpointSettings(endpoints[0]) : undefined;
  return {
    NetworkMode: mode,
    Gateway: first?.Gateway ?? '',
    IPAddress: first?.IPAddress ?? '',
    IPPrefixLen: first?.IPPrefixLen ?? 0,
    MacAddress: first?.MacAddress ?? '',
    Ports: portsMap(ports),
    Networks: Object.fromEntries(endpoints.map((e) => [e.network, endpointSettings(e)])),
  };
}

/** Bytes received and sent on the interfaces of a process's network namespace, loopback aside (docker's NET I/O). */
export function netIo(pid: number): { rx: number; tx: number } {
  try {
    return pid ? netDevTotals(readFileSync(`/proc/${pid}/net/dev`, 'utf8')) : { rx: 0, tx: 0 };
  } catch {
    return { rx: 0, tx: 0 }; // gone meanwhile
  }
}

/** /proc/net/dev's receive and transmit byte counters, summed over every interface but lo. */
export function netDevTotals(text: string): { rx: number; tx: number } {
  let rx = 0;
  let tx = 0;
  for (const line of text.split('\n').slice(2)) {
    const [name = '', counters = ''] = line.split(':');
    if (!counters || name.trim() === 'lo') continue;
    const f = counters.trim().split(/\s+/).map(Number);
    rx += f[0] ?? 0;
    tx += f[8] ?? 0;
  }
  return { rx, tx };
}
