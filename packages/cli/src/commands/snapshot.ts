import { UsageError } from '../args';
import { parseOptions } from '../options';
import type { Command, CommandContext } from '../command';
import { withDaemon } from '../connect';
import { humanSize, table } from '../format';
import { parseLabelArgs } from '../labels';

type SnapshotsClient = import('@ctl/snapshotter/client').SnapshotsClient;
type Info = import('@ctl/snapshotter/client').Info;
type Mount = import('@ctl/snapshotter/client').Mount;

const USAGE = `Usage: ctl snapshot [--snapshotter NAME] COMMAND

Commands:
  ls [--format json] [FILTER...]   list snapshots (containerd filters, e.g. kind==committed)
  info KEY                         show a snapshot's record as JSON
  tree                             show snapshots as a tree of parents and children
  usage [KEY...]                   disk use of each snapshot's own layer
  prepare KEY [PARENT]             make an active snapshot; prints its mount commands
  view KEY [PARENT]                make a read-only view; prints its mount commands
  mounts TARGET KEY                print the mount commands of an active or view snapshot
  commit NAME KEY                  commit an active snapshot as NAME
  label KEY [LABEL=VALUE...]       set labels (an empty value removes one)
  rm KEY...                        remove snapshots (children first)

Options:
  --snapshotter NAME   driver to use: overlayfs, native, btrfs (env CTL_SNAPSHOTTER;
                       default: the service's default driver)
  --label LABEL=VALUE  labels for prepare, view and commit (repeatable)
`;

function mountCommands(mounts: Mount[], target: string): string {
  return mounts.map((m) => `mount -t ${m.type} ${m.source} ${target} -o ${m.options.join(',')}\n`).join('');
}

async function withSnapshots<T>(context: CommandContext, snapshotter: string, fn: (s: SnapshotsClient) => Promise<T>): Promise<T> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { SnapshotsClient } = require('@ctl/snapshotter/client') as typeof import('@ctl/snapshotter/client');
  return withDaemon(context, (daemon) => fn(new SnapshotsClient(daemon.snapshotter, snapshotter)));
}

async function all(s: SnapshotsClient, filters: string[] = []): Promise<Info[]> {
  const infos: Info[] = [];
  await s.walk((i) => void infos.push(i), filters);
  return infos.sort((a, b) => a.name.localeCompare(b.name));
}

function need(args: string[], count: number, what: string): void {
  if (args.length < count) throw new UsageError(`${what}`);
}

export const command: Command = {
  summary: 'Manage snapshots',
  usage: USAGE,
  async run(argv, context) {
    const { values, positionals } = parseOptions(argv, {
      snapshotter: { type: 'string' },
      format: { type: 'string' },
      label: { type: 'string', multiple: true },
    });
    const [verb, ...args] = positionals;
    const snapshotter = values.snapshotter ?? context.env.CTL_SNAPSHOTTER ?? '';
    const labels = parseLabelArgs(values.label ?? []);
    const out = context.out;
    return withSnapshots(context, snapshotter, async (s) => {
      switch (verb) {
        case 'ls':
        case 'list': {
          const infos = await all(s, args);
          if (values.format === 'json') out(`${JSON.stringify(infos, null, 2)}\n`);
          else out(table([['KEY', 'PARENT', 'KIND'], ...infos.map((i) => [i.name, i.parent, i.kind])]));
          return 0;
        }
        case 'info': {
          need(args, 1, 'info needs a KEY');
          out(`${JSON.stringify(await s.stat(args[0]!), null, 2)}\n`);
          return 0;
        }
        case 'tree': {
          const infos = await all(s);
          const children = new Map<string, Info[]>();
          for (const i of infos) children.set(i.parent, [...(children.get(i.parent) ?? []), i]);
          const print = (parent: string, depth: number): void => {
            for (const i of children.get(parent) ?? []) {
              out(`${'  '.repeat(depth)}\\_ ${i.name}\n`);
              print(i.name, depth + 1);
            }
          };
          print('', 0);
          return 0;
        }
        case 'usage': {
          const keys = args.length ? args : (await all(s)).map((i) => i.name);
          const rows = [['KEY', 'SIZE', 'INODES']];
          for (const key of keys) {
            const u = await s.usage(key);
            rows.push([key, humanSize(u.size), String(u.inodes)]);
          }
          out(table(rows));
          return 0;
        }
        case 'prepare':
        case 'view': {
          need(args, 1, `${verb} needs a KEY`);
          const mounts =
            verb === 'prepare' ? await s.prepare(args[0]!, args[1] ?? '', labels) : await s.view(args[0]!, args[1] ?? '', labels);
          out(mountCommands(mounts, '/tmp/mnt'));
          return 0;
        }
        case 'mounts': {
          need(args, 2, 'mounts needs a TARGET and a KEY');
          out(mountCommands(await s.mounts(args[1]!), args[0]!));
          return 0;
        }
        case 'commit': {
          need(args, 2, 'commit needs a NAME and a KEY');
          await s.commit(args[0]!, args[1]!, labels);
          return 0;
        }
        case 'label': {
          need(args, 1, 'label needs a KEY');
          const set = parseLabelArgs(args.slice(1));
          const info = await s.update(
            { name: args[0]!, labels: set },
            Object.keys(set).map((k) => `labels.${k}`),
          );
          out(
            Object.entries(info.labels)
              .map(([k, v]) => `${k}=${v}\n`)
              .join(''),
          );
          return 0;
        }
        case 'rm':
        case 'remove': {
          need(args, 1, 'rm needs at least one KEY');
          for (const key of args) await s.remove(key);
          return 0;
        }
        default:
          throw new UsageError(verb ? `unknown snapshot command "${verb}"` : 'snapshot needs a command');
      }
    });
  },
};
