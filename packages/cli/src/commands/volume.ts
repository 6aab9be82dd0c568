/**
 * `ctl volume create|ls|inspect|rm|prune`: named volumes (ctl.volumes.v1), Docker's commands.
 * Containers use them with `ctl run -v NAME:/path` or `--mount type=volume,...`.
 */
import { UsageError } from '../args';
import { parseOptions } from '../options';
import type { Command } from '../command';
import { withClients } from '../clients';
import { table } from '../format';
import { parseLabelArgs } from '../labels';
import { type Fields, template } from '../template';

type Volume = import('@ctl/containerd-lite/client').Volume;

const USAGE = `Usage: ctl volume COMMAND

Commands:
  create [--label K=V]... [NAME]   create a volume (a random name if none); prints its name
  ls [-q] [--format json|FORMAT] [-f F]   list volumes; filters: dangling=true|false, name=PART,
                                   label=KEY[=VALUE] (repeatable; all must match); FORMAT: docker's
                                   Go-template subset, fields Name Driver Scope Mountpoint Labels
  inspect [--format FORMAT] NAME...   show volumes as JSON (or through FORMAT)
  rm [-f] NAME...                  remove volumes (never one a container uses; -f: no error if missing)
  prune [-a] [-f]                  remove unused anonymous volumes (-a: all unused volumes)
`;

/** docker volume inspect's shape (plus whether it is anonymous and who uses it). */
const inspectJson = (v: Volume): Record<string, unknown> => ({
  CreatedAt: v.createdAt.toISOString(),
  Driver: v.driver,
  Labels: v.labels,
  Mountpoint: v.mountpoint,
  Name: v.name,
  Options: null,
  Scope: 'local',
  Anonymous: v.anonymous,
  UsedBy: v.usedBy,
});

/** volume ls's fields for --format, docker's names and headers. */
const LS_FIELDS: Fields = { Name: 'VOLUME NAME', Driver: 'DRIVER', Scope: 'SCOPE', Mountpoint: 'MOUNTPOINT', Labels: 'LABELS' };

const lsRow = (v: Volume): Record<keyof typeof LS_FIELDS, string> => ({
  Name: v.name,
  Driver: v.driver,
  Scope: 'local',
  Mountpoint: v.mountpoint,
  Labels: Object.entries(v.labels)
    .map(([k, l]) => `${k}=${l}`)
    .join(','),
});

/** docker volume ls's filters: dangling (no container uses it), name (a substring), label. */
function filterOf(filters: string[]): (v: Volume) => boolean {
  const tests = filters.map((f): ((v: Volume) => boolean) => {
    const eq = f.indexOf('=');
    const key = f.slice(0, eq < 0 ? undefined : eq);
    const value = eq < 0 ? '' : f.slice(eq + 1);
    if (key === 'dangling' && /^(true|false|1|0)$/.test(value))
      return (v) => (v.usedBy.length === 0) === (value === 'true' || value === '1');
    if (key === 'name' && value) return (v) => v.name.includes(value);
    if (key === 'label' && value) {
      const [k, ...rest] = value.split('=');
      return (v) => k! in v.labels && (rest.length === 0 || v.labels[k!] === rest.join('='));
    }
    throw new UsageError(`--filter ${f}: supported: dangling=true|false, name=PART, label=KEY[=VALUE]`);
  });
  return (v) => tests.every((t) => t(v));
}

/** -f is --filter for ls and --force elsewhere, as in docker. */
function parse(rest: string[], verb: string | undefined) {
  const ls = verb === 'ls' || verb === 'list';
  return parseOptions(rest, {
    quiet: { type: 'boolean', short: 'q' },
    format: { type: 'string' },
    label: { type: 'string', short: 'l', multiple: true },
    force: ls ? { type: 'boolean' } : { type: 'boolean', short: 'f' },
    all: { type: 'boolean', short: 'a' },
    driver: { type: 'string', short: 'd' },
    filter: ls ? { type: 'string', short: 'f', multiple: true } : { type: 'string', multiple: true },
  });
}

export const command: Command = {
  summary: 'Manage volumes',
  usage: USAGE,
  async run(args, context) {
    const [verb, ...rest] = args;
    const { values, positionals } = parse(rest, verb);
    if (positionals.length && (verb === 'ls' || verb === 'list')) throw new UsageError('ls takes no arguments');
    switch (verb) {
      case 'create': {
        if (positionals.length > 1) throw new UsageError('create takes at most one NAME');
        const labels = parseLabelArgs(values.label ?? []);
        const volume = await withClients(context, ({ volumes: v }) =>
          v.create({ name: positionals[0] ?? '', labels, driver: values.driver ?? '' }),
        );
        context.out(`${volume.name}\n`);
        return 0;
      }
      case 'ls':
      case 'list': {
        const keep = filterOf(values.filter ?? []);
        const format = template(values.format, LS_FIELDS);
        const list = (await withClients(context, ({ volumes: v }) => v.list())).filter(keep).sort((a, b) => a.name.localeCompare(b.name));
        if (values.format === 'json') context.out(`${JSON.stringify(list.map(inspectJson), null, 2)}\n`);
        else if (values.quiet) context.out(list.map((v) => `${v.name}\n`).join(''));
        else if (format) context.out(format.render(list.map(lsRow)));
        else context.out(table([['DRIVER', 'VOLUME NAME'], ...list.map((v) => [v.driver, v.name])]));
        return 0;
      }
      case 'inspect': {
        if (positionals.length === 0) throw new UsageError('inspect needs at least one NAME');
        const format = template(values.format);
        return withClients(context, async ({ volumes: v }) => {
          const out: unknown[] = [];
          let code = 0;
          for (const name of positionals) {
            try {
              out.push(inspectJson(await v.get(name)));
            } catch (err) {
              context.err(`ctl volume inspect: ${(err as Error).message}\n`);
              code = 1;
            }
          }
          context.out(format ? format.render(out as Record<string, unknown>[]) : `${JSON.stringify(out, null, 2)}\n`);
          return code;
        });
      }
      case 'rm':
      case 'remove': {
        if (positionals.length === 0) throw new UsageError('rm needs at least one NAME');
        return withClients(context, async ({ volumes: v }) => {
          let code = 0;
          for (const name of positionals) {
            try {
              await v.remove(name, { force: values.force });
              context.out(`${name}\n`);
            } catch (err) {
              context.err(`ctl volume rm: ${(err as Error).message}\n`);
              code = 1;
            }
          }
          return code;
        });
      }
      case 'prune': {
        if (positionals.length) throw new UsageError('prune takes no arguments');
        const removed = await withClients(context, ({ volumes: v }) => v.prune({ all: values.all }));
        if (removed.length) context.out(`Deleted Volumes:\n${removed.map((n) => `${n}\n`).join('')}`);
        return 0;
      }
      default:
        throw new UsageError(verb ? `unknown volume command "${verb}"` : 'volume needs a command');
    }
  },
};
