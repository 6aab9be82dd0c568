/**
 * IPv4 and IPv6 addresses and prefixes as numbers, for IPAM and overlap checks: no library, the
 * arithmetic is a few lines and node:net already validates the text forms.
 */
import { invalidArgument } from '@ctl/proto';
import { isIPv4, isIPv6 } from 'node:net';

export interface Prefix {
  family: 4 | 6;
  /** The network address (host bits cleared). */
  base: bigint;
  length: number;
}

const bits = (family: 4 | 6): number => (family === 4 ? 32 : 128);

export function parseAddress(text: string, what = 'address'): { family: 4 | 6; value: bigint } {
  if (isIPv4(text)) return { family: 4, value: text.split('.').reduce((n, part) => (n << 8n) | BigInt(Number(part)), 0n) };
  if (isIPv6(text) && !text.includes('.')) {
    const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
    const groups = (s: string | undefined) => (s ? s.split(':') : []);
    const missing = 8 - groups(head).length - groups(tail).length;
    const all = [...groups(head), ...(tail === undefined ? [] : Array<string>(missing).fill('0')), ...groups(tail)];
    return { family: 6, value: all.reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n) };
  }
  throw invalidArgument(`invalid ${what} "${text}": not an IPv4 or IPv6 address`);
}

export function formatAddress(family: 4 | 6, value: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 255n)).join('.');
  const groups = [...Array(8).keys()].map((i) => ((value >> BigInt(112 - 16 * i)) & 0xffffn).toString(16));
  // The longest run of zero groups (two or more) becomes "::" (RFC 5952).
  let best = { at: -1, len: 1 };
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > best.len) best = { at: i, len: j - i };
    i = j === i ? i + 1 : j;
  }
  if (best.at < 0) return groups.join(':');
  return `${groups.slice(0, best.at).join(':')}::${groups.slice(best.at + best.len).join(':')}`;
}

export function parsePrefix(text: string, what = 'subnet'): Prefix {
  const [address, len, extra] = text.split('/');
  const length = Number(len);
  if (extra !== undefined || len === undefined || !/^\d+$/.test(len)) throw invalidArgument(`invalid ${what} "${text}": not in CIDR form`);
  const { family, value } = parseAddress(address!, what);
  if (length > bits(family)) throw invalidArgument(`invalid ${what} "${text}": prefix length over ${bits(family)}`);
  const host = (1n << BigInt(bits(family) - length)) - 1n;
  return { family, base: value & ~host, length };
}

export const formatPrefix = (p: Prefix): string => `${formatAddress(p.family, p.base)}/${p.length}`;

/** The number of addresses in the prefix. */
export const size = (p: Prefix): bigint => 1n << BigInt(bits(p.family) - p.length);

export const last = (p: Prefix): bigint => p.base + size(p) - 1n;

export const contains = (p: Prefix, family: 4 | 6, value: bigint): boolean => p.family === family && value >= p.base && value <= last(p);

export const overlaps = (a: Prefix, b: Prefix): boolean => a.family === b.family && a.base <= last(b) && b.base <= last(a);
