/** `ctl builder prune|du`: the build cache (ctl.build.v1 Prune and ListCache), docker's builder commands. */
import { UsageError } from '../args';
import type { Command, CommandContext } from '../command';
import { withClients } from '../clients';
import { age, humanSize, table } from '../format';
import { parseOptions } from '../options';

type CacheRecord = import('@ctl/containerd-lite/client').BuildCacheRecord;

const USAGE = `Usage: ctl builder COMMAND

Manage the build cache.

Commands:
  prune [-a] [-f] [--filter until=DURATION]   remove build cache records (their layers go at the
                                   next collection): those unused for DURATION (e.g. 24h, 90m),
                                   or with -a all of them; no filter and no -a: all of them too
                                   (-f is accepted for docker's scripts; nothing is asked)
  du [--format json]               the build cache's records, newest use first, and their size
`;

const UNITS: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

/** A Go duration (`24h`, `1h30m`, `90s`) in seconds. */
export function goDuration(value: string): number {
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(value); m; m = re.exec(value)) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    matched = re.lastIndex;
  }
  if (!value || matched !== value.length) throw new UsageError(`invalid duration "${value}": e.g. 24h, 90m, 1h30m`);
  return total;
}

/** --filter KEY=VALUE: only until, as the cache records have no other attribute docker filters on here. */
function keepSeconds(filters: readonly string[]): number | undefined {
  let keep: number | undefined;
  for (const filter of filters) {
    const eq = filter.indexOf('=');
    const key = eq < 0 ? filter : filter.slice(0, eq);
    if (key !== 'until') throw new UsageError(`invalid filter "${filter}": only until=DURATION is supported`);
    keep = Math.round(goDuration(filter.slice(eq + 1)));
  }
  return keep;
}

async function prune(argv: string[], context: CommandContext): Promise<number> {
  const { values } = parseOptions(
    argv,
    { all: { type: 'boolean', short: 'a' }, force: { type: 'boolean', short: 'f' }, filter: { type: 'string', multiple: true } },
    { positionals: false },
  );
  const keep = keepSeconds(values.filter ?? []);
  const all = Boolean(values.all) || keep === undefined;
  const res = await withClients(context, ({ builder }) => builder.prune({ all, keepDurationSeconds: all ? 0 : keep }));
  context.out(
    `Deleted ${res.removed} build cache record${res.removed === 1 ? '' : 's'}\nTotal reclaimed space: ${humanSize(res.reclaimableBytes)}\n`,
  );
  return 0;
}

const date = (ns: number): Date => new Date(ns / 1e6);

async function du(argv: string[], context: CommandContext): Promise<number> {
  const { values } = parseOptions(argv, { format: { type: 'string' }, verbose: { type: 'boolean' } }, { positionals: false });
  if (values.format !== undefined && values.format !== 'json') throw new UsageError(`--format "${values.format}": only json`);
  const records: CacheRecord[] = await withClients(context, ({ builder }) => builder.listCache());
  if (values.format === 'json') {
    const json = records.map((r) => ({
      ID: r.key,
      Description: r.description,
      Manifest: r.manifestDigest,
      Size: r.size,
      CreatedAt: date(r.createdAtNs).toISOString(),
      LastUsedAt: date(r.lastUsedAtNs).toISOString(),
    }));
    context.out(`${JSON.stringify(json, null, 2)}\n`);
    return 0;
  }
  const total = records.reduce((sum, r) => sum + r.size, 0);
  const rows = records.map((r) => [
    r.key.replace(/^sha256:/, '').slice(0, 12),
    humanSize(r.size),
    `${age(date(r.lastUsedAtNs))} ago`,
    r.description.length > 60 && !values.verbose ? `${r.description.slice(0, 59)}…` : r.description,
  ]);
  context.out(table([['ID', 'SIZE', 'LAST USED', 'DESCRIPTION'], ...rows]));
  context.out(`Total:\t${humanSize(total)}\n`);
  return 0;
}

export const command: Command = {
  summary: 'Manage the build cache (prune, du)',
  usage: USAGE,
  run([verb, ...rest], context) {
    switch (verb) {
      case 'prune':
        return prune(rest, context);
      case 'du':
        return du(rest, context);
      default:
        throw new UsageError(verb ? `unknown builder command "${verb}"` : 'builder needs a command (prune, du)');
    }
  },
};
