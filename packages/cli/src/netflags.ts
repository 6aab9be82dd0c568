/**
 * `ctl run`/`ctl create` network flags, Docker's spelling, into ctl.run.v1's Networking and the
 * network namespace mode: --network (repeatable), -p/--publish, -P, --expose, --ip, --ip6,
 * --mac-address, --network-alias, --dns, --dns-search, --dns-option, --add-host, and our
 * --network-egress-rate / --network-ingress-rate (bits per second, tc's units: 1mbit, 500kbit).
 */
import type { Namespaces } from '@ctl/proto/generated/ctl/run/v1/Namespaces';
import type { Networking } from '@ctl/proto/generated/ctl/run/v1/Networking';
import type { PortBinding } from '@ctl/proto/generated/ctl/run/v1/PortBinding';
import type * as Net from 'node:net';
import { UsageError } from './args';

/** node:net when an address is to be checked: requiring it loads Node's streams, ~5 ms of every `ctl run`. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const isIP = (address: string): number => (require('node:net') as typeof Net).isIP(address);

/**
 * The network `ctl run` joins unless told otherwise: docker's default "bridge" (netd makes it on
 * first use), or CTL_DEFAULT_NETWORK's (e.g. none, as docker's daemon `--bridge none`).
 */
export const DEFAULT_NETWORK = 'bridge';

export const NETWORK_FLAGS = [
  { name: 'network', value: true, multiple: true },
  { name: 'publish', short: 'p', value: true, multiple: true },
  { name: 'publish-all', short: 'P', value: false },
  { name: 'expose', value: true, multiple: true },
  { name: 'ip', value: true },
  { name: 'ip6', value: true },
  { name: 'mac-address', value: true },
  { name: 'network-alias', value: true, multiple: true },
  { name: 'dns', value: true, multiple: true },
  { name: 'dns-search', value: true, multiple: true },
  { name: 'dns-option', value: true, multiple: true },
  { name: 'add-host', value: true, multiple: true },
  { name: 'network-egress-rate', value: true },
  { name: 'network-ingress-rate', value: true },
];

type Values = Record<string, string | boolean | string[] | undefined>;

/** "80" or "8000-8010": the first port and how many. */
function portRange(text: string, what: string): { first: number; count: number } {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  const first = Number(m?.[1]);
  const last = m?.[2] ? Number(m[2]) : first;
  if (!m || first < 1 || last > 65535 || last < first)
    throw new UsageError(`${what}: "${text}" is not a port or a range of ports (1-65535)`);
  return { first, count: last - first + 1 };
}

/**
 * -p [IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL], split as docker does (the last part the container
 * port, the one before it the host port, the rest the host address, IPv6 with or without
 * brackets). Ranges of equal length map port to port; a host range with one container port
 * publishes it on one free port of the range (hostPortEnd), as docker picks one.
 */
export function parsePublish(value: string): PortBinding[] {
  const what = `--publish ${value}`;
  const slash = value.lastIndexOf('/');
  const protocol = slash >= 0 ? value.slice(slash + 1).toLowerCase() || 'tcp' : 'tcp';
  if (protocol !== 'tcp' && protocol !== 'udp') throw new UsageError(`${what}: the protocol must be tcp or udp`);
  const parts = (slash >= 0 ? value.slice(0, slash) : value).split(':');
  const containerText = parts.pop() ?? '';
  const hostText = parts.pop() ?? '';
  const hostIp = parts.join(':').replace(/^\[(.*)\]$/, '$1');
  if (!containerText) throw new UsageError(`${what}: expected [IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]`);
  if (hostIp && !isIP(hostIp)) throw new UsageError(`${what}: "${hostIp}" is not an IP address`);
  const container = portRange(containerText, what);
  const host = hostText ? portRange(hostText, what) : undefined;
  if (host && host.count !== container.count && container.count !== 1)
    throw new UsageError(`${what}: the host and container port ranges must be of the same length`);
  if (host && host.count > container.count)
    return [{ protocol, hostIp, hostPort: host.first, hostPortEnd: host.first + host.count - 1, containerPort: container.first }];
  return Array.from({ length: container.count }, (_, i) => ({
    protocol,
    hostIp,
    hostPort: host ? host.first + i : 0,
    containerPort: container.first + i,
  }));
}

const RATE_UNITS: Record<string, number> = { '': 1, bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9, tbit: 1e12 };

/** A rate in bits per second: a number with tc's bit units (1mbit, 500kbit, 1gbit). */
export function parseRate(value: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)([a-z]*)$/i.exec(value.trim());
  const unit = RATE_UNITS[m?.[2]?.toLowerCase() ?? 'x'];
  const bps = m && unit ? Math.round(Number(m[1]) * unit) : NaN;
  if (!Number.isSafeInteger(bps) || bps <= 0)
    throw new UsageError(`--${flag} ${value}: expected a rate such as 1mbit, 500kbit or 1gbit (bits per second)`);
  return bps;
}

/** --add-host HOST:IP (or HOST=IP); IP may be host-gateway (the network's gateway). */
function parseAddHost(value: string): { host: string; ip: string } {
  const sep = /[:=]/.exec(value);
  const host = sep ? value.slice(0, sep.index) : '';
  const ip = sep ? value.slice(sep.index + 1).replace(/^\[(.*)\]$/, '$1') : '';
  if (!host || (ip !== 'host-gateway' && !isIP(ip))) throw new UsageError(`--add-host ${value}: expected HOST:IP (IP may be host-gateway)`);
  return { host, ip };
}

function ipFlag(value: string | undefined, flag: string, family: 4 | 6): string {
  if (value !== undefined && isIP(value) !== family) throw new UsageError(`--${flag} ${value}: not an IPv${family} address`);
  return value ?? '';
}

/** The network namespace mode and the Networking message the flags ask for. */
export function networkConfig(v: Values, env: NodeJS.ProcessEnv): { namespaces: Namespaces; networking: Networking } {
  const list = (name: string): string[] => (v[name] as string[] | undefined) ?? [];
  const str = (name: string): string | undefined => v[name] as string | undefined;
  const given = list('network');
  const networks = given.length ? given : [env.CTL_DEFAULT_NETWORK || DEFAULT_NETWORK];
  const special = networks.find((n) => n === 'none' || n === 'host' || n.startsWith('container:'));
  if (special && networks.length > 1) throw new UsageError(`--network ${special} cannot be combined with other networks`);
  if (special?.startsWith('container:') && !special.slice('container:'.length))
    throw new UsageError('--network container:NAME needs the name or id of a container');
  const ports = list('publish').flatMap(parsePublish);
  const perNetwork = ['ip', 'ip6', 'mac-address', 'network-alias', 'publish', 'publish-all', 'network-egress-rate', 'network-ingress-rate'];
  const conflicting = perNetwork.find((f) => (Array.isArray(v[f]) ? (v[f] as string[]).length : v[f]));
  if (special && conflicting) throw new UsageError(`conflicting options: --${conflicting} and --network ${special}`);
  if (special?.startsWith('container:')) {
    const clash = ['dns', 'dns-search', 'dns-option', 'add-host', 'hostname'].find((f) =>
      Array.isArray(v[f]) ? (v[f] as string[]).length : v[f],
    );
    if (clash) throw new UsageError(`conflicting options: --${clash} and --network ${special}`);
  }
  list('dns').forEach((d) => {
    if (!isIP(d)) throw new UsageError(`--dns ${d}: not an IP address`);
  });
  list('expose').forEach((e) => {
    if (!/^\d+(-\d+)?(\/(tcp|udp))?$/i.test(e)) throw new UsageError(`--expose ${e}: expected PORT[/PROTOCOL] or a range`);
  });
  const rate = (flag: string): number => (str(flag) ? parseRate(str(flag)!, flag) : 0);
  const namespaces: Namespaces =
    special === 'host'
      ? { network: 'HOST' }
      : special?.startsWith('container:')
        ? { network: 'CONTAINER', networkContainer: special.slice('container:'.length) }
        : { network: 'NONE' };
  const attachments = special
    ? []
    : networks.map((network, i) =>
        i === 0
          ? {
              network,
              aliases: list('network-alias'),
              ipv4Address: ipFlag(str('ip'), 'ip', 4),
              ipv6Address: ipFlag(str('ip6'), 'ip6', 6),
              macAddress: str('mac-address') ?? '',
            }
          : { network },
      );
  return {
    namespaces,
    networking: {
      networks: attachments,
      ports,
      publishAll: Boolean(v['publish-all']),
      expose: list('expose').flatMap((e) => {
        const [range = '', proto = 'tcp'] = e.split('/');
        const { first, count } = portRange(range, `--expose ${e}`);
        return Array.from({ length: count }, (_, i) => `${first + i}/${proto.toLowerCase()}`);
      }),
      dns: list('dns'),
      dnsSearch: list('dns-search'),
      dnsOptions: list('dns-option'),
      extraHosts: list('add-host').map(parseAddHost),
      egressBps: rate('network-egress-rate'),
      ingressBps: rate('network-ingress-rate'),
    },
  };
}
