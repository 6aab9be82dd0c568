import { UsageError } from '../args';
import { parseOptions } from '../options';
import type { Command } from '../command';
import { withClients } from '../clients';
import { parseLabelArgs } from '../labels';

const USAGE = `Usage: ctl namespace COMMAND

Commands:
  ls [-q] [--format json]        list namespaces
  create NAME [LABEL=VALUE...]   create a namespace
  label NAME [LABEL=VALUE...]    set labels (an empty value removes a label)
  rm NAME...                     remove empty namespaces
`;

export const command: Command = {
  summary: 'Manage namespaces',
  usage: USAGE,
  async run(args, context) {
    const [verb, ...rest] = args;
    const { values, positionals } = parseOptions(rest, { quiet: { type: 'boolean', short: 'q' }, format: { type: 'string' } });
    switch (verb) {
      case 'ls':
      case 'list': {
        const list = await withClients(context, ({ namespaces: ns }) => ns.list());
        if (values.format === 'json') context.out(`${JSON.stringify(list, null, 2)}\n`);
        else if (values.quiet) context.out(list.map((n) => `${n.name}\n`).join(''));
        else {
          const rows = list.map((n) => [
            n.name,
            Object.entries(n.labels)
              .map(([k, v]) => `${k}=${v}`)
              .join(','),
          ]);
          context.out(['NAME                LABELS', ...rows.map(([n, l]) => `${n!.padEnd(20)}${l}`)].join('\n') + '\n');
        }
        return 0;
      }
      case 'create': {
        const [name, ...labels] = positionals;
        if (!name) throw new UsageError('create needs a NAME');
        await withClients(context, ({ namespaces: ns }) => ns.create({ name, labels: parseLabelArgs(labels) }));
        context.out(`${name}\n`);
        return 0;
      }
      case 'label': {
        const [name, ...labels] = positionals;
        if (!name) throw new UsageError('label needs a NAME');
        const parsedLabels = parseLabelArgs(labels);
        await withClients(context, ({ namespaces: ns }) =>
          ns.update(
            { name, labels: parsedLabels },
            Object.keys(parsedLabels).map((k) => `labels.${k}`),
          ),
        );
        return 0;
      }
      case 'rm':
      case 'remove': {
        if (positionals.length === 0) throw new UsageError('rm needs at least one NAME');
        await withClients(context, async ({ namespaces: ns }) => {
          for (const name of positionals) {
            await ns.delete(name);
            context.out(`${name}\n`);
          }
        });
        return 0;
      }
      default:
        throw new UsageError(verb ? `unknown namespace command "${verb}"` : 'namespace needs a command');
    }
  },
};
