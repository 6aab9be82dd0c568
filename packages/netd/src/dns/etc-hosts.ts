/**
 * A container's /etc/hosts, as Docker writes it: the localhost and IPv6 lines, the --add-host
 * entries, then the container's own addresses with its hostname. A pure function; containerd-lite
 * writes the file.
 */
import { invalidArgument } from '@ctl/proto/errors';

/** An --add-host entry; `host-gateway` as the address means the host's address on the network. */
export interface ExtraHost {
  name: string;
  address: string;
}

export interface ContainerHosts {
  hostname: string;
  /** --domainname: the own line names `hostname.domainname` first, then the bare hostname. */
  domainname?: string;
  /** The container's addresses (no prefix length), one line each; none with no network of its own. */
  addresses: string[];
  extraHosts?: ExtraHost[];
  /** What `host-gateway` stands for (the gateway of the container's first network); required if it is used. */
  hostGateway?: string;
  /** Leave out the IPv6 lines, for a container without IPv6 (Docker does since 26.0). */
  noIpv6?: boolean;
}

export const HOST_GATEWAY = 'host-gateway';

const IPV4_DEFAULTS = [['127.0.0.1', 'localhost']];
const IPV6_DEFAULTS = [
  ['::1', 'localhost ip6-localhost ip6-loopback'],
  ['fe00::0', 'ip6-localnet'],
  ['ff00::0', 'ip6-mcastprefix'],
  ['ff02::1', 'ip6-allnodes'],
  ['ff02::2', 'ip6-allrouters'],
];

export function buildHosts(request: ContainerHosts): string {
  const records = [...IPV4_DEFAULTS, ...(request.noIpv6 ? [] : IPV6_DEFAULTS)];
  for (const extra of request.extraHosts ?? []) records.push([resolveHostGateway(extra, request.hostGateway), extra.name]);
  const names = ownNames(request.hostname, request.domainname);
  for (const address of request.addresses) records.push([address, names]);
  return records.map(([address, hostNames]) => `${address}\t${hostNames}\n`).join('');
}

/**
 * A container's /etc/hosts after `docker network connect` (its addresses on the new network
 * added under its hostname) or disconnect (its addresses there taken out), as Docker edits it:
 * the other lines stay as they are.
 */
export function editHosts(text: string, hostname: string, change: { add?: string[]; remove?: string[] }): string {
  const names = ownNames(hostname, undefined);
  const gone = new Set(change.remove ?? []);
  const kept = text.split('\n').filter((line) => {
    const [address = '', ...rest] = line.split('\t');
    return !(gone.has(address) && rest.join('\t') === names);
  });
  const body = kept.join('\n').replace(/\n*$/, '\n');
  return body + (change.add ?? []).map((address) => `${address}\t${names}\n`).join('');
}

function resolveHostGateway(extra: ExtraHost, hostGateway: string | undefined): string {
  if (extra.address !== HOST_GATEWAY) return extra.address;
  if (!hostGateway) throw invalidArgument(`--add-host ${extra.name}:${HOST_GATEWAY}: the container has no network gateway`);
  return hostGateway;
}

/** Docker's main record: the FQDN and its first label when the name has a domain, else the name. */
function ownNames(hostname: string, domainname: string | undefined): string {
  const fqdn = domainname ? `${hostname}.${domainname}` : hostname;
  const dot = fqdn.indexOf('.');
  return dot > 0 ? `${fqdn} ${fqdn.slice(0, dot)}` : fqdn;
}
