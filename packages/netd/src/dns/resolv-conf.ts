/**
 * A container's /etc/resolv.conf, by Docker's rules, as pure functions: containerd-lite writes the
 * file, netd's resolver forwards to the upstream servers chosen here. Only reading a file touches
 * the disk (readResolvConf).
 */
import { readFile } from 'node:fs';
import type * as Net from 'node:net';

/**
 * node:net at first use: `ctl run`'s bundle carries this module, and requiring node:net loads
 * Node's streams, ~5 ms of the command's start that no flag parsing needs.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeNet = (): typeof Net => require('node:net') as typeof Net;
const isIP = (address: string): number => nodeNet().isIP(address);

/** What a resolv.conf says: every nameserver in order (none skipped), the search list, the options. */
export interface ResolvConf {
  nameservers: string[];
  search: string[];
  options: string[];
}

/** Docker's fallback when no usable nameserver is left: Google's public servers. */
export const DEFAULT_NAMESERVERS_V4 = ['8.8.8.8', '8.8.4.4'];
export const DEFAULT_NAMESERVERS_V6 = ['2001:4860:4860::8888', '2001:4860:4860::8844'];

/**
 * Parses resolv.conf text as glibc reads it: `nameserver`, `search` and `domain` (the last of
 * the two wins, as in glibc), `options`; comments start with `#` or `;`. Nothing is filtered.
 */
export function parseResolvConf(text: string): ResolvConf {
  const conf: ResolvConf = { nameservers: [], search: [], options: [] };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [keyword, ...values] = line.split(/\s+/);
    if (keyword === 'nameserver' && values[0]) conf.nameservers.push(values[0]);
    else if (keyword === 'search' || keyword === 'domain') conf.search = values;
    else if (keyword === 'options') conf.options.push(...values);
  }
  return conf;
}

/** Reads and parses a resolv.conf; a missing file reads as an empty one (glibc then asks 127.0.0.1). */
export async function readResolvConf(path = '/etc/resolv.conf'): Promise<ResolvConf> {
  try {
    // node:fs's callback form: node:fs/promises would load readline and file watchers into every
    // network command of the CLI, whose bundle carries this module
    const text = await new Promise<string>((resolve, reject) => readFile(path, 'utf8', (err, data) => (err ? reject(err) : resolve(data))));
    return parseResolvConf(text);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return parseResolvConf('');
    throw err;
  }
}

/**
 * The host's resolv.conf as Docker finds it: when /etc/resolv.conf names only systemd-resolved's
 * stub (127.0.0.53), the servers behind the stub, from systemd-resolved's own file.
 */
export async function readHostResolvConf(): Promise<ResolvConf> {
  const conf = await readResolvConf('/etc/resolv.conf');
  const stubOnly = conf.nameservers.length > 0 && conf.nameservers.every((server) => server === SYSTEMD_RESOLVED_STUB);
  if (!stubOnly) return conf;
  const behindStub = await readResolvConf(SYSTEMD_RESOLVED_UPSTREAM);
  return behindStub.nameservers.length > 0 ? behindStub : conf;
}

const SYSTEMD_RESOLVED_STUB = '127.0.0.53';
const SYSTEMD_RESOLVED_UPSTREAM = '/run/systemd/resolve/resolv.conf';

export function formatResolvConf(conf: ResolvConf): string {
  const lines = conf.nameservers.map((server) => `nameserver ${server}`);
  if (conf.search.length > 0) lines.push(`search ${conf.search.join(' ')}`);
  if (conf.options.length > 0) lines.push(`options ${conf.options.join(' ')}`);
  return lines.map((line) => `${line}\n`).join('');
}

let loopback: Net.BlockList | undefined;

/** 127.0.0.0/8 and ::1: servers that answer only inside the host's own network namespace. */
export function isLoopbackAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  if (!loopback) {
    loopback = new (nodeNet().BlockList)();
    loopback.addSubnet('127.0.0.0', 8, 'ipv4');
    loopback.addAddress('::1', 'ipv6');
  }
  return loopback.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

export interface ContainerDns {
  /** The host's resolv.conf (readResolvConf). */
  host: ResolvConf;
  /** The container shares the host's network namespace: the host's servers are used as they are. */
  hostNetwork?: boolean;
  /** The container has IPv6: IPv6 nameservers are kept and the IPv6 fallback servers added. */
  ipv6?: boolean;
  /** --dns, --dns-search, --dns-option: each replaces the host's list when given (`.` alone: no search). */
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  /** The address of the network's own resolver (netd's, on the gateway), when the network has one. */
  resolver?: string;
}

export interface ContainerResolvConf {
  /** The file's text. */
  text: string;
  /** The servers that answer the container's other questions: the resolver's upstreams, or the file's servers. */
  upstreams: string[];
}

/**
 * Docker's rules: --dns replaces the host's servers; without it the host's are taken, less the
 * loopback ones when the container has its own network namespace (they would answer nothing
 * there), less the IPv6 ones without IPv6, and Google's public servers when none is left. With a
 * network resolver, the file names it alone (with `ndots:0` unless an ndots is given, as Docker's
 * embedded DNS does) and the servers chosen above become its upstreams; the resolver runs in the
 * host's namespace, so there the host's loopback servers are kept.
 */
export function buildResolvConf(request: ContainerDns): ContainerResolvConf {
  const { host } = request;
  const search = pick(request.dnsSearch, host.search).filter((domain) => domain !== '.');
  const options = pick(request.dnsOptions, host.options);
  if (request.resolver) {
    const upstreams = pick(request.dns, withFallback(usableServers(host.nameservers, { loopback: true, ipv6: true }), false));
    const resolverOptions = options.some((option) => option.startsWith('ndots:')) ? options : ['ndots:0', ...options];
    return { text: formatResolvConf({ nameservers: [request.resolver], search, options: resolverOptions }), upstreams };
  }
  const nameservers = request.dns?.length
    ? request.dns
    : request.hostNetwork
      ? host.nameservers
      : withFallback(usableServers(host.nameservers, { loopback: false, ipv6: request.ipv6 ?? false }), request.ipv6 ?? false);
  return { text: formatResolvConf({ nameservers, search, options }), upstreams: nameservers };
}

function pick(chosen: string[] | undefined, otherwise: string[]): string[] {
  return chosen && chosen.length > 0 ? chosen : otherwise;
}

function usableServers(servers: string[], keep: { loopback: boolean; ipv6: boolean }): string[] {
  return servers.filter((server) => (keep.loopback || !isLoopbackAddress(server)) && (keep.ipv6 || isIP(server) !== 6));
}

function withFallback(servers: string[], ipv6: boolean): string[] {
  if (servers.length > 0) return servers;
  return ipv6 ? [...DEFAULT_NAMESERVERS_V4, ...DEFAULT_NAMESERVERS_V6] : DEFAULT_NAMESERVERS_V4;
}
