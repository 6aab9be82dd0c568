/**
 * The bridge driver's links: a Linux bridge per network made with iproute2 batches, and a veth
 * pair per endpoint made by ctl-netns (one exec over rtnetlink for both ends). Every link netd makes
 * carries the instance's mark as its alias (`ctl-netd:<table>`), so that at start what a crash
 * left behind can be told from what belongs to others.
 */
import { alreadyExists } from '@ctl/proto/errors';
import { createHash } from 'node:crypto';
import { deleteLinkByName, ipBatch, ipJson, netnsVeth, sysctl } from '../../host';

export interface LinkInfo {
  ifname: string;
  ifalias?: string;
  linkinfo?: { info_kind?: string };
}

/** IPv6 addresses skip duplicate address detection: they are ours to give, and usable at once (ctl-netns does so too). */
const nodad = (address: string): string => (address.includes(':') ? ' nodad' : '');

export const mark = (table: string): string => `ctl-netd:${table}`;

/** The host side of an endpoint's veth: "veth" and 11 hex digits of what identifies it (15, the kernel's most). */
export const hostVethName = (table: string, namespace: string, containerId: string, networkId: string): string =>
  `veth${createHash('sha256').update(`${table}\0${namespace}\0${containerId}\0${networkId}`).digest('hex').slice(0, 11)}`;

/** Docker's MAC for an IPv4 address: 02:42 and the address's four bytes. */
export const macFor = (ipv4: string): string =>
  ['02', '42', ...ipv4.split('.').map((b) => Number(b).toString(16).padStart(2, '0'))].join(':');

/** Links of this instance (by their mark) in the host's netns, by kind (ifb: bandwidth.ts's shapers): one query for all. */
export async function ourLinks(table: string): Promise<{ bridge: string[]; veth: string[]; ifb: string[] }> {
  const links = (await ipJson<LinkInfo>(['-d', 'link', 'show'])).filter((l) => l.ifalias === mark(table));
  const ofKind = (kind: string) => links.filter((l) => l.linkinfo?.info_kind === kind).map((l) => l.ifname);
  return { bridge: ofKind('bridge'), veth: ofKind('veth'), ifb: ofKind('ifb') };
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
    ...spec.addresses.map((a) => `addr replace ${a} dev ${spec.name}${nodad(a)}`),
    `link set ${spec.name} up`,
  ]);
  await sysctl('net/ipv4/ip_forward', '1');
  // Published ports reached at 127.0.0.1 are DNATed into the bridge with their loopback source.
  await sysctl(`net/ipv4/conf/${spec.name}/route_localnet`, '1');
  if (spec.ipv6) await sysctl('net/ipv6/conf/all/forwarding', '1');
}

/** The lines that put a veth on a bridge, up; hairpin: a container reaching its own published port comes back the way it left. */
const onBridge = (bridge: string, veth: string): string[] => [
  `link set ${veth} master ${bridge} up`,
  `link set ${veth} type bridge_slave hairpin on`,
];

/** Puts veths (back) on a bridge. */
export function attachToBridge(bridge: string, veths: readonly string[]): Promise<string> {
  return ipBatch(veths.flatMap((v) => onBridge(bridge, v)));
}

/** Deletes a link (a bridge, or a veth and so its peer); one already gone is no error. */
export function deleteLink(name: string): Promise<void> {
  return deleteLinkByName(name);
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

/**
 * Makes the veth pair, its container end in the netns with its name, addresses and routes, and
 * loopback up: one exec of ctl-netns (host.ts netnsVeth), the lines of the two iproute2 batches it
 * replaced in one run.
 */
export async function addVeth(s: VethSpec): Promise<void> {
  try {
    // A netns on a second network keeps the first's default route (appended); the next takes over when it goes.
    const args = [s.hostName, s.bridge, mark(s.table), s.netnsPath, s.interfaceName, s.macAddress, ...s.addresses];
    await netnsVeth([...args, ...(s.gateways.length ? ['via', ...s.gateways] : [])], `veth ${s.hostName} into ${s.netnsPath}`);
  } catch (err) {
    // The name is this endpoint's alone (hostVethName), so a link of that name is a leftover of it.
    await deleteLink(s.hostName);
    if (
      /File exists/.test(String(err)) &&
      (await ipBatch([`link show dev ${s.interfaceName}`], s.netnsPath).then(
        () => true,
        () => false,
      ))
    ) {
      throw alreadyExists(`interface ${s.interfaceName} already exists in network namespace ${s.netnsPath}`);
    }
    throw err;
  }
}
