/**
 * ctl container VERB: container prune, and docker's other container verbs (ls, rm, start, …) as
 * the top-level commands of those names, loaded as ctl loads them (context.command), so this
 * module carries none of their code.
 */
import { ErrorKind, isKind } from '@ctl/proto/errors';
import { createInterface } from 'node:readline';
import { UsageError } from '../args';
import { parseOptions } from '../options';
import type { Command } from '../command';
import { withClients } from '../clients';
import { each } from '../container/common';
import { hasProcesses } from '../container/status';
import { humanSize } from '../format';

async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY && process.stdin.readableEnded) return false;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await new Promise<string>((resolve) => {
      rl.question(question, resolve);
      rl.once('close', () => resolve(''));
    });
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

const prune: Command = {
  summary: 'Remove all stopped containers',
  usage: 'Usage: ctl container prune [-f]\n\n  -f, --force   do not ask for confirmation\n',
  async run(argv, context) {
    const { values, positionals } = parseOptions(argv, { force: { type: 'boolean', short: 'f' } });
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    if (!values.force && !(await confirm('WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ')))
      return 0;
    return withClients(context, async (a) => {
      const [containers, tasks] = await Promise.all([a.containers.list(), a.tasks.list()]);
      const running = new Set(tasks.filter((t) => !t.id && hasProcesses(t)).map((t) => t.containerId));
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { SnapshotsClient } = require('@ctl/snapshotter/client') as typeof import('@ctl/snapshotter/client');
      const removed: string[] = [];
      let reclaimed = 0;
      const code = await each(
        context,
        'container prune',
        containers.filter((c) => !running.has(c.id)).map((c) => c.id),
        async (id) => {
          const c = containers.find((x) => x.id === id)!;
          const bytes = c.snapshotKey
            ? await new SnapshotsClient(a.daemon.snapshotter, c.snapshotter).usage(`${context.namespace}/${c.snapshotKey}`).then(
                (u) => u.size,
                () => 0,
              )
            : 0;
          try {
            await a.runner.remove(id, false);
          } catch (err) {
            // Started meanwhile: not ours to remove.
            if (isKind(err, ErrorKind.FailedPrecondition)) return;
            throw err;
          }
          removed.push(id);
          reclaimed += bytes;
        },
      );
      context.out(
        `${removed.length ? `Deleted Containers:\n${removed.map((id) => `${id}\n`).join('')}\n` : ''}Total reclaimed space: ${humanSize(reclaimed)}\n`,
      );
      return code;
    });
  },
};

/** docker's container verbs that are ctl's top-level commands (ls and list are ps). */
const VERBS: Record<string, string> = { ls: 'ps', list: 'ps' };
const COMMANDS = new Set(
  'run create start ps logs stop kill rm wait inspect exec attach pause unpause top stats restart events commit'.split(' '),
);

export const command: Command = {
  // Help of `ctl container VERB --help` is the verb's, so the verb decides.
  helpBeforeImageOnly: true,
  summary: 'Manage containers (ctl container prune, and the docker verbs: ls, rm, start, …)',
  usage: `Usage: ctl container COMMAND

Commands:
  prune [-f]   remove all stopped containers
  ls           as ctl ps; and create, run, start, stop, restart, kill, rm, pause, unpause,
               top, stats, logs, wait, inspect, exec, commit as the commands of those names
`,
  async run(argv, context) {
    const [verb, ...rest] = argv;
    if (!verb) throw new UsageError('container needs a COMMAND');
    if (verb === 'prune') {
      if (rest.includes('-h') || rest.includes('--help')) {
        context.out(prune.usage);
        return 0;
      }
      return prune.run(rest, context);
    }
    const name = VERBS[verb] ?? verb;
    const command = COMMANDS.has(name) ? context.command(name) : undefined;
    if (!command) throw new UsageError(`unknown container command "${verb}"`);
    const first = rest.findIndex((a) => !a.startsWith('-'));
    const options = command.helpBeforeImageOnly && first >= 0 ? rest.slice(0, first) : rest;
    if (options.includes('-h') || options.includes('--help')) {
      context.out(command.usage);
      return 0;
    }
    return command.run(rest, context);
  },
};
