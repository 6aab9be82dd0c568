/** Sizes as Docker takes them on the command line. */
import { UsageError } from './args';

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** Docker's sizes: 512, 64k, 256m, 1g (binary units; an optional trailing "b"). */
export function parseBytes(value: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)b?$/i.exec(value.trim());
  if (!m) throw new UsageError(`${what}: invalid size "${value}" (e.g. 512m, 1g)`);
  return Math.round(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!);
}
