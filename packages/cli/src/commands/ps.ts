/**
 * What containers there are and what they do: ps and inspect (Containers and Tasks), top (the
 * task's pids, read from /proc on this host, where containers run) and stats (the Tasks API's
 * metrics).
 */
import { readFileSync } from 'node:fs';
import type * as Os from 'node:os';
import { UsageError } from '../args';
import { parseOptions } from '../options';
import type { Command } from '../command';
import { lite, withClients } from '../clients';
import { each, ids, specOf, taskOf } from '../container/common';
import { netIo, networkSettings, portsText } from '../container/network';
import { hasExited, hasProcesses, isPaused, isRunning, statusText } from '../container/status';
import { age, humanSize, table } from '../format';
import { type Fields, template } from '../template';

type Metric = import('@ctl/containerd-lite/client').TaskMetric;
type Container = import('@ctl/containerd-lite/client').Container;
type ProcessState = import('@ctl/containerd-lite/client').ProcessState;

/** ps's fields for --format, docker's names and headers (ours have no sizes to show). */
const PS_FIELDS: Fields = {
  ID: 'CONTAINER ID',
  Image: 'IMAGE',
  Command: 'COMMAND',
  CreatedAt: 'CREATED AT',
  RunningFor: 'CREATED',
  Status: 'STATUS',
  State: 'STATE',
  Ports: 'PORTS',
  Names: 'NAMES',
  Networks: 'NETWORKS',
  Labels: 'LABELS',
};

/** A container as ps shows it, under docker's field names. */
function containerRow(c: Container, task: ProcessState | undefined): Record<keyof typeof PS_FIELDS, string> {
  const cmd = (specOf(c).process?.args ?? []).join(' ');
  return {
    ID: c.id,
    Image: c.image.replace(/^docker\.io\/(library\/)?/, ''),
    Command: JSON.stringify(cmd.length > 30 ? `${cmd.slice(0, 29)}…` : cmd),
    CreatedAt: c.createdAt.toISOString(),
    RunningFor: `${age(c.createdAt)} ago`,
    Status: statusText(task),
    State: (task?.status ?? 'CREATED').toLowerCase(),
    Ports: portsText(lite().publishedPorts(c.labels)),
    Names: c.id,
    Networks: lite().networksOf(c.labels).join(','),
    Labels: Object.entries(c.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
  };
}

const ps: Command = {
  summary: 'List containers',
  usage: `Usage: ctl ps [-a] [-q] [--format json|FORMAT]

  -a, --all        also containers that are not running
  --format FORMAT  docker's Go-template subset: {{.Field}}, {{json .}}, {{json .Field}}, "table" prefix
                   fields: ${Object.keys(PS_FIELDS).join(' ')}
`,
  async run(argv, context) {
    const { values } = parseOptions(argv, {
      all: { type: 'boolean', short: 'a' },
      quiet: { type: 'boolean', short: 'q' },
      format: { type: 'string' },
    });
    const format = template(values.format, PS_FIELDS);
    return withClients(context, async (a) => {
      const [containers, tasks] = await Promise.all([a.containers.list(), a.tasks.list()]);
      const byId = new Map(tasks.filter((t) => !t.id).map((t) => [t.containerId, t]));
      const rows = containers
        .map((c) => ({ container: c, task: byId.get(c.id) }))
        .filter((r) => values.all || hasProcesses(r.task))
        .sort((x, y) => y.container.createdAt.getTime() - x.container.createdAt.getTime());
      if (values.quiet) context.out(rows.map((r) => `${r.container.id}\n`).join(''));
      else if (format) context.out(format.render(rows.map((r) => containerRow(r.container, r.task))));
      else if (values.format === 'json') {
        context.out(
          `${JSON.stringify(
            rows.map((r) => ({
              id: r.container.id,
              image: r.container.image,
              command: specOf(r.container).process?.args ?? [],
              created: r.container.createdAt,
              status: r.task?.status ?? 'CREATED',
              pid: r.task?.pid ?? 0,
              exitCode: r.task && hasExited(r.task) ? r.task.exitStatus : null,
              labels: r.container.labels,
            })),
            null,
            2,
          )}\n`,
        );
      } else {
        const cells = rows.map((r) => containerRow(r.container, r.task));
        context.out(
          table([
            ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS'],
            ...cells.map((c) => [c.ID, c.Image, c.Command, c.RunningFor, c.Status, c.Ports]),
          ]),
        );
      }
      return 0;
    });
  },
};

const inspect: Command = {
  summary: 'Show containers as JSON',
  usage:
    'Usage: ctl inspect [-f FORMAT] CONTAINER...\n\n  -f, --format FORMAT   each container through a template: {{.State.Pid}}, {{json .State}}, …\n',
  async run(argv, context) {
    const { values, positionals } = parseOptions(argv, { format: { type: 'string', short: 'f' } });
    const format = template(values.format);
    return withClients(context, async (a) => {
      const out: unknown[] = [];
      const code = await each(context, 'inspect', ids(positionals, 'inspect'), async (id) => {
        // Asked at once, one round trip rather than three; a failure is the first one in this
        // order, as when they were asked one after the other (an unknown container: its NotFound).
        const [c, task, where] = await firstFailure([a.containers.get(id), taskOf(a.tasks, id), a.runner.inspect(id)] as const);
        const mode = c.labels[lite().NetworkLabel.mode] ?? 'none';
        // Live from netd (connect/disconnect change them); a container without networks never asks it.
        const endpoints = lite().networksOf(c.labels).length ? await a.networks.listEndpoints({ containerId: id }) : [];
        out.push({
          Id: c.id,
          Name: c.id,
          Image: c.image,
          Created: c.createdAt,
          State: {
            Status: (task?.status ?? 'CREATED').toLowerCase(),
            Running: isRunning(task),
            Paused: isPaused(task),
            Pid: task?.pid ?? 0,
            ExitCode: task && hasExited(task) ? task.exitStatus : 0,
            OOMKilled: where.oomKilled,
            FinishedAt: task?.exitedAt ?? null,
          },
          RestartCount: lite().restartCountOf(c.labels),
          HostConfig: {
            RestartPolicy: { Name: lite().policyOf(c.labels).name, MaximumRetryCount: lite().policyOf(c.labels).maxRetries },
            // docker's name of the OCI runtime; Runtime below is containerd's (the shim's)
            Runtime: lite().binaryName(c.runtime) || 'runtime-native',
            NetworkMode: mode,
          },
          NetworkSettings: networkSettings(mode, lite().publishedPorts(c.labels), endpoints),
          Labels: c.labels,
          Snapshotter: c.snapshotter,
          SnapshotKey: c.snapshotKey,
          Runtime: c.runtime.name,
          LogPath: where.logPath,
          Spec: specOf(c),
        });
      });
      context.out(format ? format.render(out as Record<string, unknown>[]) : `${JSON.stringify(out, null, 2)}\n`);
      return code;
    });
  },
};

/** Each promise's value once all have settled; else the reason of the first (in this order) that failed. */
async function firstFailure<T extends readonly unknown[]>(promises: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

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
      if (!task || !hasProcesses(task)) {
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
  netRx: number;
  netTx: number;
}

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0)) || 0;

/** The figures docker shows, from the runtime's stats (runc's `events --stats` shape, v1 or v2). */
export function sampleOf(m: Metric, pid = 0): Sample {
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
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const host = (require('node:os') as typeof Os).totalmem(); // loaded for stats alone
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
    ...(({ rx, tx }) => ({ netRx: rx, netTx: tx }))(netIo(pid)),
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
    netRx: now.netRx,
    netTx: now.netTx,
    pids: now.pids,
  };
}

const size = (n: number): string => humanSize(n).replace(' ', '');

/** stats's fields for --format, docker's names and headers. */
const STATS_FIELDS: Fields = {
  Container: 'CONTAINER',
  ID: 'CONTAINER ID',
  Name: 'NAME',
  CPUPerc: 'CPU %',
  MemUsage: 'MEM USAGE / LIMIT',
  MemPerc: 'MEM %',
  NetIO: 'NET I/O',
  BlockIO: 'BLOCK I/O',
  PIDs: 'PIDS',
};

/** A stats row as docker prints it, under its field names. */
const statsCells = (r: ReturnType<typeof statsRow>): Record<keyof typeof STATS_FIELDS, string> => ({
  Container: r.id,
  ID: r.id,
  Name: r.id,
  CPUPerc: `${r.cpuPercent.toFixed(2)}%`,
  MemUsage: `${size(r.memoryUsage)} / ${size(r.memoryLimit)}`,
  MemPerc: `${r.memoryPercent.toFixed(2)}%`,
  NetIO: `${size(r.netRx)} / ${size(r.netTx)}`,
  BlockIO: `${size(r.blockRead)} / ${size(r.blockWrite)}`,
  PIDs: String(r.pids),
});

const stats: Command = {
  summary: 'Show live resource usage of containers',
  usage:
    'Usage: ctl stats [--no-stream] [--format json|FORMAT] [CONTAINER...]\n\n  --no-stream     print once and exit (CPU % over one second)\n' +
    `  --format json   one JSON array per refresh\n  --format FORMAT docker's Go-template subset; fields: ${Object.keys(STATS_FIELDS).join(' ')}\n\n` +
    'Without CONTAINER: every running container. Refreshes every second until Ctrl-C.\n',
  async run(argv, context) {
    const { values, positionals } = parseOptions(argv, {
      'no-stream': { type: 'boolean' },
      format: { type: 'string' },
      all: { type: 'boolean', short: 'a' },
    });
    const format = template(values.format, STATS_FIELDS);
    return withClients(context, async (a) => {
      for (const id of positionals) await a.containers.get(id);
      const stop = new AbortController();
      const onInt = (): void => stop.abort();
      process.once('SIGINT', onInt);
      try {
        let previous = new Map<string, Sample>();
        const sample = async (): Promise<Sample[]> => {
          const running = (await a.tasks.list()).filter((t) => !t.id && hasProcesses(t));
          const wanted = positionals.length ? positionals : running.map((t) => t.containerId);
          if (wanted.length === 0) return [];
          const pids = new Map(running.map((t) => [t.containerId, t.pid]));
          return (await a.tasks.metrics(wanted)).map((m) => sampleOf(m, pids.get(m.id)));
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
            .map((id): Sample => ({ id, at: 0, cpuNs: 0, memory: 0, limit: 0, pids: 0, blockRead: 0, blockWrite: 0, netRx: 0, netTx: 0 }));
          const rows = [...now, ...stopped].map((s) => statsRow(s, previous.get(s.id))).sort((x, y) => x.id.localeCompare(y.id));
          previous = new Map(now.map((s) => [s.id, s]));
          const cells = rows.map(statsCells);
          const clear = tty ? '\x1b[2J\x1b[H' : '';
          if (values.format === 'json') context.out(`${JSON.stringify(rows)}\n`);
          else if (format) context.out(`${clear}${format.render(cells)}`);
          else {
            const columns = ['ID', 'CPUPerc', 'MemUsage', 'MemPerc', 'NetIO', 'BlockIO', 'PIDs'] as const;
            context.out(`${clear}${table([columns.map((f) => STATS_FIELDS[f]!), ...cells.map((c) => columns.map((f) => c[f]))])}`);
          }
          if (values['no-stream']) return 0;
        }
      } finally {
        process.off('SIGINT', onInt);
      }
    });
  },
};

export const commands: Record<string, Command> = { ps, inspect, top, stats };
