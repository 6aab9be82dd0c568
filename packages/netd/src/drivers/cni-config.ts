/**
 * A CNI network configuration list (a `.conflist`, or a legacy single-plugin `.conf`): parsing
 * with errors that name the bad field, what netd shows of it (subnets, bridge), and the stdin
 * each plugin gets (CNI 1.0 "how the runtime turns the list into per-plugin stdin").
 */
import { invalidArgument } from '@ctl/proto/errors';
import { isIPv4, isIPv6 } from 'node:net';
import type { Subnet } from '../records';

/** Versions whose result format we read (0.1/0.2 had another one); CHECK needs 0.4.0 or later. */
export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0'] as const;

export type PluginConf = Record<string, unknown> & { type: string; capabilities?: Record<string, boolean> };

export interface ConfList {
  cniVersion: string;
  name: string;
  disableCheck: boolean;
  plugins: PluginConf[];
}

/** CNI's rule for network names and container ids: alphanumeric first, then alphanumerics, `_`, `.`, `-`. */
export const CNI_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
/** A plugin type names a binary in the plugin dirs: never a path. */
const PLUGIN_TYPE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses and checks a conflist's text; a legacy single-plugin conf becomes a list of one, as libcni does. */
export function parseConfList(text: string): ConfList {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw invalidArgument(`conflist is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(raw)) throw invalidArgument('conflist must be a JSON object');
  if (raw.plugins === undefined && typeof raw.type === 'string') {
    const { cniVersion, name, ...plugin } = raw;
    raw = { cniVersion, name, plugins: [plugin] };
  }
  const list = raw as Record<string, unknown>;
  const version = list.cniVersion;
  if (typeof version !== 'string' || !(SUPPORTED_VERSIONS as readonly string[]).includes(version)) {
    throw invalidArgument(`conflist cniVersion ${JSON.stringify(version)} is not supported (supported: ${SUPPORTED_VERSIONS.join(', ')})`);
  }
  if (typeof list.name !== 'string' || !CNI_NAME.test(list.name)) {
    throw invalidArgument(
      `conflist name ${JSON.stringify(list.name)} is not a valid CNI network name (alphanumeric first, then [a-zA-Z0-9_.-])`,
    );
  }
  if (!Array.isArray(list.plugins) || list.plugins.length === 0) throw invalidArgument('conflist "plugins" must be a non-empty array');
  const plugins = list.plugins.map((p: unknown, i) => checkPlugin(p, i));
  // libcni also takes the string "true" here.
  const disableCheck = list.disableCheck === true || list.disableCheck === 'true';
  return { cniVersion: version, name: list.name, disableCheck, plugins };
}

function checkPlugin(plugin: unknown, index: number): PluginConf {
  const where = `conflist plugins[${index}]`;
  if (!isObject(plugin)) throw invalidArgument(`${where} must be an object`);
  if (typeof plugin.type !== 'string' || !PLUGIN_TYPE.test(plugin.type)) {
    throw invalidArgument(`${where}: "type" ${JSON.stringify(plugin.type)} must name a plugin binary`);
  }
  const caps = plugin.capabilities;
  if (caps !== undefined && (!isObject(caps) || Object.values(caps).some((v) => typeof v !== 'boolean'))) {
    throw invalidArgument(`${where} (${plugin.type}): "capabilities" must map names to true or false`);
  }
  const ipam = plugin.ipam;
  if (ipam !== undefined && !isObject(ipam)) throw invalidArgument(`${where} (${plugin.type}): "ipam" must be an object`);
  if (ipam?.type !== undefined && (typeof ipam.type !== 'string' || !PLUGIN_TYPE.test(ipam.type))) {
    throw invalidArgument(`${where} (${plugin.type}): ipam "type" ${JSON.stringify(ipam.type)} must name a plugin binary`);
  }
  return plugin as PluginConf;
}

/** Every binary the list runs: each plugin's type and each delegated IPAM type. */
export function pluginBinaries(list: ConfList): string[] {
  const names = list.plugins.flatMap((p) => [p.type, ...(isObject(p.ipam) && typeof p.ipam.type === 'string' ? [p.ipam.type] : [])]);
  return [...new Set(names)];
}

export const declares = (plugin: PluginConf, capability: string): boolean => plugin.capabilities?.[capability] === true;

/**
 * The stdin of one plugin: its own object with the list's cniVersion and name, `runtimeConfig`
 * holding the values of the capabilities it declares (unknown keys pass through untouched), and
 * prevResult when there is one; `capabilities` itself is the runtime's and is not sent.
 */
export function pluginStdin(list: ConfList, plugin: PluginConf, runtimeConfig: Record<string, unknown>, prevResult?: unknown): string {
  const { capabilities, ...rest } = plugin;
  const conf: Record<string, unknown> = { ...rest, cniVersion: list.cniVersion, name: list.name };
  const wanted = Object.keys(capabilities ?? {}).filter((c) => capabilities?.[c] === true && runtimeConfig[c] !== undefined);
  if (wanted.length) conf.runtimeConfig = Object.fromEntries(wanted.map((c) => [c, runtimeConfig[c]]));
  if (prevResult !== undefined) conf.prevResult = prevResult;
  return JSON.stringify(conf);
}

export const versionAtLeast = (version: string, min: string): boolean => {
  const [a, b] = [version, min].map((v) => v.split('.').map(Number));
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
};

/**
 * What the list's IPAM says of its subnets, for inspect: the first IPv4 and first IPv6 range of
 * the first plugin with a host-local-style ipam (`ranges`, or the legacy flat `subnet`). A range
 * without a gateway gets host-local's default, the subnet's first address (IPv4 only here).
 */
export function ipamSubnets(list: ConfList): { ipv4?: Subnet; ipv6?: Subnet } {
  for (const plugin of list.plugins) {
    const ipam = plugin.ipam;
    if (!isObject(ipam)) continue;
    const flat = typeof ipam.subnet === 'string' ? [[ipam]] : [];
    const sets = Array.isArray(ipam.ranges) ? ipam.ranges : flat;
    const ranges = sets.flatMap((set: unknown) => (Array.isArray(set) ? set : [])).filter(isObject);
    const found: { ipv4?: Subnet; ipv6?: Subnet } = {};
    for (const range of ranges) {
      if (typeof range.subnet !== 'string') continue;
      const [address, prefix] = range.subnet.split('/');
      const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
      if (!family || found[family] || !/^\d+$/.test(prefix ?? '')) continue;
      const gateway = typeof range.gateway === 'string' ? range.gateway : family === 'ipv4' ? firstIPv4(address, Number(prefix)) : '';
      found[family] = { subnet: range.subnet, gateway, ipRange: '' };
    }
    if (found.ipv4 || found.ipv6) return found;
  }
  return {};
}

function firstIPv4(address: string, prefix: number): string {
  const n = address.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
  const size = 2 ** (32 - prefix);
  const first = Math.floor(n / size) * size + 1;
  return [24, 16, 8, 0].map((shift) => Math.floor(first / 2 ** shift) % 256).join('.');
}
