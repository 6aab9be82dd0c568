/**
 * The rest of docker's container commands: pause, unpause, top, stats, restart, events,
 * container prune and commit. Tasks API for the first ones, the events service for events,
 * ctl.run.v1 Commit for commit; top reads /proc on this host, where the containers run.
 */
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { createInterface } from 'node:readline';
import { UsageError, parseOptions } from '../args';
import type { Command, CommandContext } from '../command';
import { lite, withClients } from '../clients';
import { humanSize, table } from '../format';
import { commands as containerCommands, each, ids, kindOf, stopOne, taskOf } from './container';

type Metric = import('@ctl/containerd-lite/client').TaskMetric;

const RUNNING = new Set(['RUNNING', 'PAUSED', 'PAUSING']);

const pause: Command = {
  summary: 'Pause all processes of containers',
  usage: 'Usage: ctl pause CONTAINER...\n',
  async run(argv, context) {
    const { positionals } = parseOptions(argv, {});
    return withClients(context, (a) => {
      return each(context, 'pause', ids(positionals, 'pause'), async (id) => {
        const task = await taskOf(a.tasks, id);
        if (!task || task.status !== 'RUNNING') throw new Error(task?.status === 'PAUSED' ? 'is already paused' : 'is not running');
        await a.tasks.pause(id);
        context.out(`${id}\n`);
      });
    });
  },
};

const unpause: Command = {
  summary: 'Unpause all processes of containers',
  usage: 'Usage: ctl unpause CONTAINER...\n',
  async run(argv, context) {
    const { positionals } = parseOptions(argv, {});
    return withClients(context, (a) => {
      return each(context, 'unpause', ids(positionals, 'unpause'), async (id) => {
        const task = await taskOf(a.tasks, id);
        if (task?.status !== 'PAUSED') throw new Error('is not paused');
        await a.tasks.resume(id);
        context.out(`${id}\n`);
      });
    });
  },
};

/* ---- top ---- */

/** Clock ticks per second of /proc's times (USER_HZ: 100 on every Linux architecture we run on). */
const HZ = 100;

function users(): Map<number, string> {
  try {
    return new Map(
      readFileSync('/etc/passwd', 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(':'))
        .map((f) => [Number(f[2]), f[0]!]),
    );
  } catch {
    return new Map();
  }
}

const two = (n: number): string => String(n).padStart(2, '0');

function clock(seconds: number): string {
  const s = Math.floor(seconds);
  return `${two(Math.floor(s / 3600))}:${two(Math.floor(s / 60) % 60)}:${two(s % 60)}`;
}

function ttyName(nr: number): string {
  if (!nr) return '?';
  const major = (nr >> 8) & 0xfff;
  const minor = (nr & 0xff) | ((nr >> 12) & 0xfff00);
  if (major >= 136 && major <= 143) return `pts/${(major - 136) * 256 + minor}`;
  if (major === 4) return `tty${minor}`;
  return '?';
}

/** One row of `ps -ef` for a pid on this host: UID PID PPID C STIME TTY TIME CMD. */
function psRow(pid: number, names: Map<number, string>, bootTime: number, uptime: number): string[] | undefined {
  let stat: string, status: string, cmdline: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return undefined; // gone meanwhile
  }
  const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  const cpu = (Number(f[11]) + Number(f[12])) / HZ;
  const started = Number(f[19]) / HZ;
  const elapsed = Math.max(uptime - started, 0.01);
  const startDate = new Date((bootTime + started) * 1000);
  const today = new Date().toDateString() === startDate.toDateString();
  const stime = today ? `${two(startDate.getHours())}:${two(startDate.getMinutes())}` : startDate.toDateString().slice(4, 10);
  const cmd =
    cmdline
      .split('\0')
      .filter((a, i, all) => a !== '' || i < all.length - 1)
      .join(' ')
      .trim() || `[${comm}]`;
  return [
    names.get(uid) ?? String(uid),
    String(pid),
    f[1]!,
    String(Math.floor((cpu / elapsed) * 100)),
    stime,
    ttyName(Number(f[4])),
    clock(cpu),
    cmd,
  ];
}

const top: Command = {
  summary: 'Show the running processes of a container',
  usage: 'Usage: ctl top CONTAINER\n',
  async run(argv, context) {
    const { positionals } = parseOptions(argv, {});
    if (positionals.length !== 1) throw new UsageError('top needs one CONTAINER');
    const id = positionals[0]!;
    return withClients(context, async (a) => {
      const task = await taskOf(a.tasks, id);
      if (!task || !RUNNING.has(task.status)) {
        await a.containers.get(id);
        context.err(`ctl top: container ${id} is not running\n`);
        return 1;
      }
      const pids = (await a.tasks.pids(id)).sort((x, y) => x - y);
      const bootTime = Number(/^btime (\d+)/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1] ?? 0);
      const uptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
      const names = users();
      const rows = pids.map((pid) => psRow(pid, names, bootTime, uptime)).filter((r): r is string[] => Boolean(r));
      context.out(table([['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD'], ...rows]));
      return 0;
    });
  },
};

/* ---- stats ---- */

interface Sample {
  id: string;
  at: number;
  cpuNs: number;
  memory: number;
  limit: number;
  pids: number;
  blockRead: number;
  blockWrite: number;
}

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0)) || 0;

/** The figures docker shows, from the runtime's stats (runc's `events --stats` shape, v1 or v2). */
export function sampleOf(m: Metric): Sample {
  // `ctl-runtime events --stats` prints {type: 'stats', id, data}; the counters are in data.
  const d = ((m.data as { data?: object }).data ?? m.data) as {
    cpu?: { usage?: { total?: number } };
    memory?: { usage?: { usage?: number; limit?: number }; raw?: Record<string, number> };
    pids?: { current?: number };
    blkio?: { ioServiceBytesRecursive?: { op: string; value: number }[] };
  };
  const raw = d.memory?.raw ?? {};
  // docker's "usage": the cgroup's memory less the page cache it can drop at once.
  const inactive = num(raw.total_inactive_file ?? raw.inactive_file);
  const usage = num(d.memory?.usage?.usage);
  const host = totalmem();
  const limit = num(d.memory?.usage?.limit);
  const io = d.blkio?.ioServiceBytesRecursive ?? [];
  const sum = (op: string): number => io.filter((e) => e.op.toLowerCase() === op).reduce((n, e) => n + num(e.value), 0);
  return {
    id: m.id,
    at: m.timestamp.getTime(),
    cpuNs: num(d.cpu?.usage?.total),
    memory: Math.max(usage - (inactive < usage ? inactive : 0), 0),
    limit: limit > 0 && limit < host ? limit : host,
    pids: num(d.pids?.current),
    blockRead: sum('read'),
    blockWrite: sum('write'),
  };
}

function statsRow(now: Sample, before: Sample | undefined) {
  const wall = before ? (now.at - before.at) * 1e6 : 0;
  const cpu = before && wall > 0 ? ((now.cpuNs - before.cpuNs) / wall) * 100 : 0;
  return {
    id: now.id,
    cpuPercent: Math.max(cpu, 0),
    memoryUsage: now.memory,
    memoryLimit: now.limit,
    memoryPercent: now.limit ? (now.memory / now.limit) * 100 : 0,
    blockRead: now.blockRead,
    blockWrite: now.blockWrite,
    pids: now.pids,
  };
}

const size = (n: number): string => humanSize(n).replace(' ', '');

const stats: Command = {
  summary: 'Show live resource usage of containers',
  usage:
    'Usage: ctl stats [--no-stream] [--format json] [CONTAINER...]\n\n  --no-stream     print once and exit (CPU % over one second)\n  --format json   one JSON array per refresh\n\nWithout CONTAINER: every running container. Refreshes every second until Ctrl-C.\n',
  async run(argv, context) {
    const { values, positionals } = parseOptions(argv, {
      'no-stream': { type: 'boolean' },
      format: { type: 'string' },
      all: { type: 'boolean', short: 'a' },
    });
    if (values.format && values.format !== 'json') throw new UsageError(`--format ${values.format}: only json is supported`);
    return withClients(context, async (a) => {
      for (const id of positionals) await a.containers.get(id);
      const stop = new AbortController();
      const onInt = (): void => stop.abort();
      process.once('SIGINT', onInt);
      try {
        let previous = new Map<string, Sample>();
        const sample = async (): Promise<Sample[]> => {
          const wanted = positionals.length
            ? positionals
            : (await a.tasks.list()).filter((t) => !t.id && RUNNING.has(t.status)).map((t) => t.containerId);
          if (wanted.length === 0) return [];
          return (await a.tasks.metrics(wanted)).map(sampleOf);
        };
        const tty = Boolean(process.stdout.isTTY) && !values['no-stream'];
        previous = new Map((await sample()).map((s) => [s.id, s]));
        for (;;) {
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, 1000);
            stop.signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
          });
          if (stop.signal.aborted) return 0;
          const now = await sample();
          // A named container that does not run shows zeros, as docker shows it.
          const stopped = positionals
            .filter((id) => !now.some((s) => s.id === id))
            .map((id): Sample => ({ id, at: 0, cpuNs: 0, memory: 0, limit: 0, pids: 0, blockRead: 0, blockWrite: 0 }));
          const rows = [...now, ...stopped].map((s) => statsRow(s, previous.get(s.id))).sort((x, y) => x.id.localeCompare(y.id));
          previous = new Map(now.map((s) => [s.id, s]));
          if (values.format === 'json') context.out(`${JSON.stringify(rows)}\n`);
          else {
            context.out(
              `${tty ? '\x1b[2J\x1b[H' : ''}${table([
                ['CONTAINER ID', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'BLOCK I/O', 'PIDS'],
                ...rows.map((r) => [
                  r.id,
                  `${r.cpuPercent.toFixed(2)}%`,
                  `${size(r.memoryUsage)} / ${size(r.memoryLimit)}`,
                  `${r.memoryPercent.toFixed(2)}%`,
                  `${size(r.blockRead)} / ${size(r.blockWrite)}`,
                  String(r.pids),
                ]),
              ])}`,
            );
          }
          if (values['no-stream']) return 0;
        }
      } finally {
        process.off('SIGINT', onInt);
      }
    });
  },
};

/* ---- restart ---- */

const restart: Command = {
  summary: 'Restart containers (stop, then start)',
  usage:
    "Usage: ctl restart [-t SECONDS] CONTAINER...\n\n  -t, --time N   seconds to wait for the stop before SIGKILL (default: the container's --stop-timeout, else 10)\n",
  async run(argv, context) {
    const { values, positionals } = parseOptions(argv, { time: { type: 'string', short: 't' } });
    const timeout = values.time !== undefined ? Number(values.time) : undefined;
    if (timeout !== undefined && !(timeout >= 0)) throw new UsageError(`-t ${values.time}: expected seconds`);
    const list = ids(positionals, 'restart');
    return withClients(context, (a) =>
      each(context, 'restart', list, async (id) => {
        await stopOne(a, id, timeout);
        // Starting is `ctl start`'s own code; its message comes back under our name.
        let message = '';
        const quiet: CommandContext = {
          ...context,
          out: () => undefined,
          err: (text) => (message += text.replace(/^ctl start: [^:]*: /, '')),
        };
        const code = await containerCommands.start!.run([id], quiet);
        if (code !== 0) throw new Error(message.trim() || `start exited ${code}`);
        context.out(`${id}\n`);
      }),
    );
  },
};

/* ---- events ---- */

const EVENT_NAMES: Record<string, string> = {
  die: 'exit',
  destroy: 'delete',
  pause: 'paused',
  unpause: 'resumed',
  exec_create: 'exec-added',
  exec_start: 'exec-started',
};
const TYPE_TOPICS: Record<string, string> = {
  container: 'containers',
  image: 'images',
  task: 'tasks',
  namespace: 'namespaces',
  content: 'content',
  snapshot: 'snapshot',
};
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]]/g, '[$&]');

/**
 * docker's --filter key=value as containerd filters: values of one key are OR-ed, keys AND-ed,
 * so the result is every combination, each one containerd filter (filters are OR-ed).
 */
export function eventFilters(namespace: string, given: readonly string[]): string[] {
  const byKey = new Map<string, string[]>();
  for (const f of given) {
    const eq = f.indexOf('=');
    if (eq <= 0) throw new UsageError(`--filter ${f}: expected KEY=VALUE`);
    const key = f.slice(0, eq);
    const value = f.slice(eq + 1);
    let selector: string;
    switch (key) {
      case 'type':
        if (!TYPE_TOPICS[value]) throw new UsageError(`--filter type=${value}: one of ${Object.keys(TYPE_TOPICS).join(', ')}`);
        selector = `topic~="^/${TYPE_TOPICS[value]}/"`;
        break;
      case 'event':
        selector = `topic~="/${escape(EVENT_NAMES[value] ?? value)}$"`;
        break;
      case 'container':
        selector = `event.container_id==${JSON.stringify(value)}`;
        break;
      case 'topic':
        selector = `topic==${JSON.stringify(value)}`;
        break;
      default:
        throw new UsageError(`--filter ${key}: one of type, event, container, topic`);
    }
    byKey.set(key, [...(byKey.get(key) ?? []), selector]);
  }
  let combos: string[][] = [[`namespace==${JSON.stringify(namespace)}`]];
  for (const selectors of byKey.values()) combos = combos.flatMap((c) => selectors.map((s) => [...c, s]));
  // Containers' own events name the container `id`, tasks' `container_id`: a container filter takes either.
  return combos.flatMap((c) =>
    c.some((s) => s.startsWith('event.container_id=='))
      ? [c.join(','), c.map((s) => s.replace(/^event\.container_id==/, 'event.id==')).join(',')]
      : [c.join(',')],
  );
}

function sinceOrUntil(value: string, what: string): number {
  const rel = /^(\d+(?:\.\d+)?)(s|m|h)$/.exec(value);
  if (rel) return Date.now() + Number(rel[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[rel[2] as 's' | 'm' | 'h'];
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new UsageError(`${what} ${value}: expected e.g. 10s, 5m, or an RFC 3339 time`);
  return t;
}

const events: Command = {
  summary: 'Print events as they happen',
  usage: `Usage: ctl events [--filter KEY=VALUE]... [--until TIME] [--format json]

Prints TIME TOPIC NAMESPACE FIELDS for each event of this namespace until Ctrl-C.
  -f, --filter type=container|image|task|namespace|content|snapshot
               event=create|start|exit|delete|paused|resumed|oom|… (docker's die, destroy,
               pause, unpause too)   container=ID   topic=/tasks/exit
               (values of one key: any; different keys: all)
  --until TIME stop at TIME (10s, 5m from now, or RFC 3339)
  --format json  one JSON object per line
The daemon keeps no history: only events from now on are shown (no --since).
`,
  async run(argv, context) {
    const { values, positionals } = parseOptions(argv, {
      filter: { type: 'string', short: 'f', multiple: true },
      until: { type: 'string' },
      since: { type: 'string' },
      format: { type: 'string' },
    });
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    if (values.since !== undefined)
      throw new UsageError('--since: the daemon keeps no history of events; only events from now on can be shown');
    const filters = eventFilters(context.namespace, values.filter ?? []);
    const until = values.until !== undefined ? sinceOrUntil(values.until, '--until') : undefined;
    return withClients(context, async (a) => {
      const c = lite();
      const stop = new AbortController();
      const onSignal = (): void => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const timer = until !== undefined ? setTimeout(onSignal, Math.max(until - Date.now(), 0)) : undefined;
      try {
        await a.events.subscribe(
          filters,
          (envelope) => {
            let fields: Record<string, unknown> = {};
            try {
              fields = c.decodeEvent(envelope.event).fields;
            } catch {
              fields = { typeUrl: envelope.event.typeUrl };
            }
            if (values.format === 'json')
              context.out(
                `${JSON.stringify({ time: envelope.timestamp, topic: envelope.topic, namespace: envelope.namespace, event: fields })}\n`,
              );
            else context.out(`${envelope.timestamp.toISOString()} ${envelope.topic} ${envelope.namespace} ${JSON.stringify(fields)}\n`);
          },
          { signal: stop.signal },
        );
        return 0;
      } finally {
        clearTimeout(timer);
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
  },
};

/* ---- container prune ---- */

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
      const running = new Set(tasks.filter((t) => !t.id && RUNNING.has(t.status)).map((t) => t.containerId));
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
            if (kindOf(err) === 'FailedPrecondition') return;
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

/* ---- commit ---- */

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

/* ---- ctl container VERB ---- */

const more: Record<string, Command> = { pause, unpause, top, stats, restart, events, commit };
const VERBS: Record<string, string> = { ls: 'ps', list: 'ps', ps: 'ps' };

const container: Command = {
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
    const command = Object.prototype.hasOwnProperty.call(more, name)
      ? more[name]
      : Object.prototype.hasOwnProperty.call(containerCommands, name)
        ? containerCommands[name]
        : undefined;
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

export const commands: Record<string, Command> = { ...more, container, prune };
