import { UsageError } from '../args';
import { parseOptions } from '../options';
import type { Command } from '../command';
import { withClients } from '../clients';
import { age, humanSize, table } from '../format';

const USAGE = `Usage: ctl content COMMAND

Commands:
  ls [-q] [--format json] [FILTER...]   list blobs (containerd filters, e.g. labels."containerd.io/uncompressed")
  get DIGEST                            write a blob to stdout
  rm DIGEST...                          remove blobs from this namespace
`;

/** Writes a chunk to stdout, waiting when the pipe is full so a large blob never piles up in memory. */
function write(chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (process.stdout.write(chunk, (err) => (err ? reject(err) : undefined))) resolve();
    else process.stdout.once('drain', resolve);
  });
}

export const command: Command = {
  summary: 'Manage blobs in the content store',
  usage: USAGE,
  async run([verb, ...argv], context) {
    const { values, positionals } = parseOptions(argv, { quiet: { type: 'boolean', short: 'q' }, format: { type: 'string' } });
    switch (verb) {
      case 'ls':
      case 'list':
        return withClients(context, async ({ content }) => {
          const infos = (await content.list(positionals)).sort((a, b) => a.digest.localeCompare(b.digest));
          if (values.format === 'json') context.out(`${JSON.stringify(infos, null, 2)}\n`);
          else if (values.quiet) context.out(infos.map((i) => `${i.digest}\n`).join(''));
          else {
            const labels = (l: Record<string, string>): string =>
              Object.entries(l)
                .map(([k, v]) => `${k}=${v}`)
                .join(',');
            context.out(
              table([
                ['DIGEST', 'SIZE', 'AGE', 'LABELS'],
                ...infos.map((i) => [i.digest, humanSize(i.size), age(i.createdAt), labels(i.labels)]),
              ]),
            );
          }
          return 0;
        });
      case 'get':
        if (positionals.length !== 1) throw new UsageError('get needs one DIGEST');
        return withClients(context, async ({ content }) => {
          for await (const chunk of content.read(positionals[0]!)) await write(chunk);
          return 0;
        });
      case 'rm':
      case 'remove':
        if (positionals.length === 0) throw new UsageError('rm needs at least one DIGEST');
        return withClients(context, async ({ content }) => {
          for (const digest of positionals) {
            await content.delete(digest);
            context.out(`${digest}\n`);
          }
          return 0;
        });
      default:
        throw new UsageError(verb ? `unknown content command "${verb}"` : 'content needs a command');
    }
  },
};
