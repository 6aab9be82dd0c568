/**
 * ctl.run.v1's networking (ContainerConfig.networking and namespaces.network) checked and put
 * in the shape the run path uses: which network mode, what to attach, publish and write into
 * the name files. InvalidArgument names the field, as options.ts does for the rest.
 */
import { HOST_GATEWAY, type PortMapping } from '@ctl/netd/client';
import { invalidArgument } from '@ctl/proto/errors';
import type { ContainerConfig__Output } from '@ctl/proto/generated/ctl/run/v1/ContainerConfig';
import { isIP } from 'node:net';

export interface AttachmentPlan {
  network: string;
  aliases: string[];
  ipv4Address: string;
  ipv6Address: string;
  macAddress: string;
}

export interface NetworkPlan {
  /** networks: a netns of the container's own on netd's networks; none: loopback only; path/container: joined. */
  mode: 'none' | 'host' | 'path' | 'container' | 'networks';
  /** For mode container: the other container's name or id. */
  container: string;
  attachments: AttachmentPlan[];
  ports: PortMapping[];
  publishAll: boolean;
  expose: { protocol: 'tcp' | 'udp'; port: number }[];
  /** The user's --dns, --dns-search, --dns-option. */
  dns: { nameservers: string[]; search: string[]; options: string[] };
  extraHosts: { host: string; ip: string }[];
  bandwidth: { egressBps: number; ingressBps: number };
}

const bad = (field: string, message: string): Error => invalidArgument(`config.${field}: ${message}`);

function port(value: number, field: string, min = 1): number {
  if (!Number.isInteger(value) || value < min || value > 65535) throw bad(field, `${value} is not a port (${min} to 65535)`);
  return value;
}

function protocol(value: string, field: string): 'tcp' | 'udp' {
  const p = value.toLowerCase() || 'tcp';
  if (p !== 'tcp' && p !== 'udp') throw bad(field, `"${value}" is not tcp or udp`);
  return p;
}

function address(value: string, field: string, family?: 4 | 6): string {
  if (value && (family ? isIP(value) !== family : !isIP(value)))
    throw bad(field, `"${value}" is not an IP${family ? `v${family}` : ''} address`);
  return value;
}

/** "80", "80/tcp", "53/udp" (an image's ExposedPorts key or --expose). */
export function exposedPort(value: string, field: string): { protocol: 'tcp' | 'udp'; port: number } {
  const [number = '', proto = ''] = value.split('/');
  if (!/^\d+$/.test(number)) throw bad(field, `"${value}" is not PORT[/PROTOCOL]`);
  return { port: port(Number(number), field), protocol: protocol(proto, field) };
}

export function networkPlan(config: ContainerConfig__Output | null | undefined): NetworkPlan {
  const n = config?.networking;
  const mode = config?.namespaces?.network ?? 'NONE';
  const attachments = (n?.networks ?? []).map((a, i): AttachmentPlan => {
    const field = `networking.networks[${i}]`;
    if (!a.network) throw bad(`${field}.network`, 'a network name is needed');
    return {
      network: a.network,
      aliases: a.aliases,
      ipv4Address: address(a.ipv4Address, `${field}.ipv4_address`, 4),
      ipv6Address: address(a.ipv6Address, `${field}.ipv6_address`, 6),
      macAddress: a.macAddress,
    };
  });
  if (attachments.length && mode !== 'NONE') throw bad('networking.networks', `networks need namespaces.network NONE, not ${mode}`);
  const ports = (n?.ports ?? []).map((p, i): PortMapping => {
    const field = `networking.ports[${i}]`;
    const mapping: PortMapping = {
      protocol: protocol(p.protocol, `${field}.protocol`),
      hostIp: address(p.hostIp, `${field}.host_ip`),
      hostPort: port(p.hostPort, `${field}.host_port`, 0),
      containerPort: port(p.containerPort, `${field}.container_port`),
    };
    if (p.hostPortEnd) {
      // one free port of the range (netd picks it)
      if (!p.hostPort || port(p.hostPortEnd, `${field}.host_port_end`) <= p.hostPort)
        throw bad(`${field}.host_port_end`, `${p.hostPortEnd} does not end a range from host_port ${p.hostPort}`);
      mapping.hostPortEnd = p.hostPortEnd;
    }
    return mapping;
  });
  if ((ports.length || n?.publishAll) && !attachments.length) throw bad('networking.ports', 'publishing ports needs a network');
  const extraHosts = (n?.extraHosts ?? []).map((h, i) => {
    const field = `networking.extra_hosts[${i}]`;
    if (!h.host || /\s/.test(h.host)) throw bad(`${field}.host`, `"${h.host}" is not a host name`);
    if (h.ip === HOST_GATEWAY && !attachments.length)
      throw bad(`${field}.ip`, `${HOST_GATEWAY} needs a network (it is the network's gateway)`);
    if (h.ip !== HOST_GATEWAY) address(h.ip || '-', `${field}.ip`);
    return { host: h.host, ip: h.ip };
  });
  (n?.dns ?? []).forEach((d, i) => address(d || '-', `networking.dns[${i}]`));
  if (mode === 'CONTAINER' && !config?.namespaces?.networkContainer) throw bad('namespaces.network_container', 'a container is needed');
  const bps = (value: number | undefined, field: string): number => {
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) throw bad(field, `${value} is not a rate in bits per second`);
    if (value && !attachments.length) throw bad(field, 'a bandwidth limit needs a network');
    return value ?? 0;
  };
  return {
    mode: attachments.length
      ? 'networks'
      : mode === 'HOST'
        ? 'host'
        : mode === 'PATH'
          ? 'path'
          : mode === 'CONTAINER'
            ? 'container'
            : 'none',
    container: config?.namespaces?.networkContainer ?? '',
    attachments,
    ports,
    publishAll: Boolean(n?.publishAll),
    expose: (n?.expose ?? []).map((e, i) => exposedPort(e, `networking.expose[${i}]`)),
    dns: { nameservers: n?.dns ?? [], search: n?.dnsSearch ?? [], options: n?.dnsOptions ?? [] },
    extraHosts,
    bandwidth: { egressBps: bps(n?.egressBps, 'networking.egress_bps'), ingressBps: bps(n?.ingressBps, 'networking.ingress_bps') },
  };
}

/** The ports to publish: the given ones, and with publishAll every exposed port not among them on a free host port. */
export function portsToPublish(plan: NetworkPlan, imageExposed: string[]): PortMapping[] {
  if (!plan.publishAll) return plan.ports;
  const exposed = [...imageExposed.map((e) => exposedPort(e, 'image ExposedPorts')), ...plan.expose];
  const taken = new Set(plan.ports.map((p) => `${p.containerPort}/${p.protocol}`));
  const more: PortMapping[] = [];
  for (const e of exposed) {
    const key = `${e.port}/${e.protocol}`;
    if (taken.has(key)) continue;
    taken.add(key);
    more.push({ protocol: e.protocol, hostIp: '', hostPort: 0, containerPort: e.port });
  }
  return [...plan.ports, ...more];
}
