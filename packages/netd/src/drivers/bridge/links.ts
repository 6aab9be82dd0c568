/**
 * The bridge driver's links: a Linux bridge per network and a veth pair per endpoint, made with
 * iproute2 batches (one exec in the host's netns, one in the container's). Every link netd makes
 * carries the instance's mark as its alias (`ctl-netd:<table>`), so that at start what a crash
 * left behind can be told from what belongs to others.
 */
import { createHash } from 'node:crypto';
import { ipBatch, ipJson, noSuchDevice, sysctl } from '../../host';

export interface LinkInfo {
  ifname: string;
  ifalias?: string;
  linkinfo?: { info_kind?: string };
}

export const mark = (table: string): string => `ctl-netd:${table}`;

/** The host side of an endpoint's veth: "veth" and 11 hex digits of what identifies it (15, the kernel's most). */
export const hostVethName = (table: string, namespace: string, containerId: string, networkId: string): string =>
  `veth${createHash('sha256').update(`${table}\0${namespace}\0${containerId}\0${networkId}`).digest('hex').slice(0, 11)}`;

/** Docker's MAC for an IPv4 address: 02:42 and the address's four bytes. */
export const macFor = (ipv4: string): string =>
  ['02', '42', ...ipv4.split('.').map((b) => Number(b).toString(16).padStart(2, '0'))].join(':');

/** Links of this instance (by their mark) in the host's netns, of one kind ("bridge", "veth"). */
export async function ourLinks(table: string, kind: 'bridge' | 'veth'): Promise<string[]> {
  const links = await ipJson<LinkInfo>(['link', 'show', 'type', kind]);
  return links.filter((l) => l.ifalias === mark(table)).map((l) => l.ifname);
}

export interface BridgeSpec {
  name: string;
  /** Gateway addresses with the subnet's prefix length, e.g. "172.17.0.1/16". */
  addresses: string[];
  ipv6: boolean;
}

/** Makes the bridge (or completes one that exists) with its gateway addresses, up, routing on. */
export async function ensureBridge(table: string, spec: BridgeSpec, exists: boolean): Promise<void> {
  await ipBatch([
    ...(exists ? [] : [`link add ${spec.name} type bridge`]),
    `link set ${spec.name} alias ${mark(table)}`,
    ...spec.addresses.map((a) => `addr replace ${a} dev ${spec.name}`),
    `link set ${spec.name} up`,
  ]);
  await sysctl('net/ipv4/ip_forward', '1');
  // Published ports reached at 127.0.0.1 are DNATed into the bridge with their loopback source.
  await sysctl(`net/ipv4/conf/${spec.name}/route_localnet`, '1');
  if (spec.ipv6) await sysctl('net/ipv6/conf/all/forwarding', '1');
}

/** Deletes a link (a bridge, or a veth and so its peer); one already gone is no error. */
export async function deleteLink(name: string): Promise<void> {
  try {
    await ipBatch([`link del ${name}`]);
  } catch (err) {
    if (!noSuchDevice(err)) throw err;
  }
}

export interface VethSpec {
  table: string;
  hostName: string;
  bridge: string;
  netnsPath: string;
  interfaceName: string;
  macAddress: string;
  /** CIDR addresses inside the container. */
  addresses: string[];
  /** Gateways of the default routes (none on internal networks). */
  gateways: string[];
}

/** Makes the veth pair, its container end in the netns with its name, addresses and routes, and loopback up. */
export async function addVeth(s: VethSpec): Promise<void> {
  await ipBatch([
    `link add ${s.hostName} type veth peer name ${s.interfaceName} address ${s.macAddress} netns ${s.netnsPath}`,
    `link set ${s.hostName} alias ${mark(s.table)}`,
    `link set ${s.hostName} master ${s.bridge} up`,
  ]);
  try {
    await ipBatch(
      [
        `link set lo up`,
        ...s.addresses.map((a) => `addr add ${a} dev ${s.interfaceName}${a.includes(':') ? ' nodad' : ''}`),
        `link set ${s.interfaceName} up`,
        ...s.gateways.map((g) => `route add default via ${g} dev ${s.interfaceName}`),
      ],
      s.netnsPath,
    );
  } catch (err) {
    await deleteLink(s.hostName);
    throw err;
  }
}
