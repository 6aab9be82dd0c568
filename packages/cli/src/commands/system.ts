import { UsageError } from '../args';
import type { Command } from '../command';
import { withClients } from '../clients';

const USAGE = `Usage: ctl system check

Checks what the engine's records promise against what is there, changing nothing: every
image's blobs and unpacked snapshots, every content record's blob, every snapshot's parent,
every container's snapshot, shims and mounts of this instance that no task holds, network
namespace files and netd endpoints of no container, and running containers whose network
namespace or endpoint is gone. Prints
one line per problem (KIND NAMESPACE SUBJECT: DETAIL) and exits 1 when there is any.
`;

export const command: Command = {
  summary: 'Check the engine',
  usage: USAGE,
  async run(args, context) {
    if (args[0] !== 'check' || args.length > 1)
      throw new UsageError(args.length ? `unknown system command "${args.join(' ')}"` : 'system needs a command: check');
    const problems = await withClients(context, ({ system }) => system.check());
    for (const p of problems) context.out(`${p.kind} ${p.namespace || '-'} ${p.subject}: ${p.detail}\n`);
    if (!problems.length) context.out('no problems\n');
    return problems.length ? 1 : 0;
  },
};
