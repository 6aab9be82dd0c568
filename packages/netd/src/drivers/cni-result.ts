/**
 * A CNI result (0.3.0 to 1.0.0: the same shape, plus ips[].version before 1.0.0) read leniently
 * into what an Endpoint shows: the container's interface and its host-side peer, its addresses,
 * routes and DNS. Fields a version does not have (1.1.0's mtu, socketPath, …) are ignored.
 */
import { isIPv4 } from 'node:net';
import type { Endpoint } from '../records';

interface ResultInterface {
  name?: string;
  mac?: string;
  sandbox?: string;
}

interface Result {
  interfaces?: ResultInterface[];
  ips?: { address?: string; gateway?: string; interface?: number }[];
  routes?: { dst?: string; gw?: string }[];
  dns?: { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] };
}

const LOOPBACK = /^(127\.|::1\/)/;
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : []);

export type EndpointNetwork = Pick<Endpoint, 'interface' | 'ips' | 'routes' | 'dns'>;

/**
 * The container's interface is the one named ifName inside a sandbox (else the first in one);
 * its host side is the last interface outside any sandbox listed before it (bridge lists the bridge,
 * the veth, the container's; ptp the veth, the container's; plugins after them append theirs, as
 * bandwidth does its ifb), empty when the plugin made none (macvlan). Addresses are those of the
 * container's interface, or every non-loopback one when the result does not say which.
 */
export function endpointFromResult(value: unknown, ifName: string): EndpointNetwork {
  const result = (typeof value === 'object' && value !== null ? value : {}) as Result;
  const interfaces = Array.isArray(result.interfaces) ? result.interfaces : [];
  let index = interfaces.findIndex((i) => i.sandbox && i.name === ifName);
  if (index < 0) index = interfaces.findIndex((i) => i.sandbox && i.name !== 'lo');
  const host = interfaces
    .slice(0, Math.max(index, 0))
    .filter((i) => !i.sandbox)
    .pop();
  const ips = (Array.isArray(result.ips) ? result.ips : [])
    .filter((ip) => typeof ip.address === 'string' && (ip.interface === undefined ? !LOOPBACK.test(ip.address) : ip.interface === index))
    .map((ip) => ({ address: ip.address!, gateway: ip.gateway ?? '' }));
  const gatewayFor = (dst: string): string =>
    ips.find((ip) => isIPv4(ip.address.split('/')[0]) === isIPv4(dst.split('/')[0]))?.gateway ?? '';
  const routes = (Array.isArray(result.routes) ? result.routes : [])
    .filter((r) => typeof r.dst === 'string')
    .map((r) => ({ destination: r.dst!, gateway: r.gw ?? gatewayFor(r.dst!) }));
  const dns = result.dns ?? {};
  const search = strings(dns.search);
  if (typeof dns.domain === 'string' && dns.domain && !search.includes(dns.domain)) search.unshift(dns.domain);
  return {
    interface: { name: interfaces[index]?.name ?? ifName, macAddress: interfaces[index]?.mac ?? '', hostName: host?.name ?? '' },
    ips,
    routes,
    dns: { nameservers: strings(dns.nameservers), search, options: strings(dns.options) },
  };
}
