import { invalidArgument } from '@ctl/proto/errors';

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/**
 * Bytes from a size as people write it: "1048576", "512k", "10m", "1G", "1.5g", "10MiB", "10MB".
 * Units are powers of 1024 whatever the spelling, as Docker's --storage-opt size and the
 * snapshotter's size-limit label read them; "MB" means MiB here, not 10^6, on purpose, so that one
 * label value never means two sizes. A fraction needs a unit and is rounded down to whole bytes.
 */
export function parseSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$/i.exec(text);
  if (!match) {
    throw invalidArgument(`invalid size ${JSON.stringify(text)}: expected bytes or a number with a unit k, m, g or t (powers of 1024)`);
  }
  const [, number, unit] = match;
  if (number.includes('.') && unit === '') throw invalidArgument(`invalid size ${JSON.stringify(text)}: a fraction of a byte`);
  const bytes = Math.floor(Number(number) * UNITS[unit.toLowerCase()]);
  if (!Number.isSafeInteger(bytes)) throw invalidArgument(`invalid size ${JSON.stringify(text)}: too large`);
  if (bytes <= 0) throw invalidArgument(`invalid size ${JSON.stringify(text)}: must be more than 0 bytes`);
  return bytes;
}

/** A size for messages: the largest unit that keeps it whole, e.g. 10485760 -> "10MiB". */
export function formatSize(bytes: number): string {
  for (const [unit, factor] of [
    ['TiB', 1024 ** 4],
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
  ] as const) {
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return `${bytes}B`;
}
