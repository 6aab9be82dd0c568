/** ctl commit: ctl.run.v1 Commit makes an image of a container's changes. */
import { UsageError } from '../args';
import { parseOptions } from '../options';
import type { Command } from '../command';
import { withClients } from '../clients';

const commit: Command = {
  summary: "Create a new image from a container's changes",
  usage: `Usage: ctl commit [OPTIONS] CONTAINER REPO[:TAG]

  -m, --message MSG     the commit message (the history entry's comment)
  -a, --author NAME     the author
  -c, --change 'CMD ["x"]'   a Dockerfile instruction for the config (repeatable): CMD,
                        ENTRYPOINT, ENV, LABEL, WORKDIR, USER, STOPSIGNAL, EXPOSE, VOLUME
  --no-pause            do not pause a running container while committing

Prints the new image's digest (its manifest's; the image record's target).
`,
  async run(argv, context) {
    const { values, positionals } = parseOptions(argv, {
      message: { type: 'string', short: 'm' },
      author: { type: 'string', short: 'a' },
      change: { type: 'string', short: 'c', multiple: true },
      pause: { type: 'boolean', short: 'p' },
      'no-pause': { type: 'boolean' },
    });
    if (positionals.length < 1 || positionals.length > 2) throw new UsageError('commit needs a CONTAINER and a REPO[:TAG]');
    if (positionals.length === 1) throw new UsageError('commit needs a REPO[:TAG]: images here are records with a name');
    const [id, reference] = positionals as [string, string];
    return withClients(context, async (a) => {
      const made = await a.runner.commit({
        id,
        reference,
        message: values.message ?? '',
        author: values.author ?? '',
        changes: values.change ?? [],
        pause: !values['no-pause'],
      });
      context.out(`${made.digest}\n`);
      return 0;
    });
  },
};

export const commands: Record<string, Command> = { commit };
