import { UsageError } from '../args';
import type { Command } from '../command';
import { withClients } from '../clients';
import { humanSize } from '../format';

const USAGE = `Usage: ctl gc

Collects garbage now, in every namespace: blobs, ingests and snapshots that no image, lease,
container or other blob or snapshot holds. (Removing images or leases schedules a collection
by itself; this runs one at once and reports what it removed.)
`;

export const command: Command = {
  summary: 'Collect garbage now',
  usage: USAGE,
  async run(args, context) {
    if (args.length) throw new UsageError(`gc takes no arguments (got ${args.join(' ')})`);
    const r = await withClients(context, ({ gc }) => gc.collect());
    const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;
    context.out(
      `removed ${plural(r.blobsRemoved, 'blob')} (${plural(r.contentRemoved, 'record')}), ${plural(r.ingestsRemoved, 'ingest')}, ` +
        `${plural(r.snapshotsRemoved, 'snapshot')} and ${plural(r.leasesRemoved, 'expired lease')}; freed ${humanSize(r.bytesFreed)} in ${r.durationMs} ms\n`,
    );
    for (const e of r.errors) context.err(`ctl: gc: ${e}\n`);
    return r.errors.length ? 1 : 0;
  },
};
