/**
 * Containers the Docker way: run, create, start, ps, logs, stop, kill, rm, wait, inspect, exec.
 * The daemon makes containers (ctl.run.v1: image, snapshot, spec, record in one call) and runs
 * their tasks (containerd's Tasks API); output comes straight from the shim's attach socket and
 * the log file, which are on this host.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { NotServingError } from '@ctl/proto/wire';
import { UsageError, parseOptions } from '../args';
import type { Command, CommandContext } from '../command';
import { type Clients, lite, withClients } from '../clients';
import { age, table } from '../format';
import { parseLabelArgs } from '../labels';
import { pull, registryFlags } from '../pull';
import { type Parsed, parseRunArgs, pullPolicy, runOptions, runtimeFlag } from '../runflags';

type Tasks = import('@ctl/containerd-lite/client').Tasks;
type Container = import('@ctl/containerd-lite/client').Container;
type ProcessState = import('@ctl/containerd-lite/client').ProcessState;

/** Docker's exit codes for what is not the container's own: the engine failed, the command could not be run or found. */
const ENGINE_FAILED = 125;
const CANNOT_INVOKE = 126;
const NOT_FOUND = 127;

const STOP_SIGNAL_LABEL = 'ctl.stop-signal';
const STOP_TIMEOUT_LABEL = 'ctl.stop-timeout';

const kindOf = (err: unknown): string | undefined => (err as { kind?: string }).kind;

export function signalNumber(value: string): number {
  if (/^\d+$/.test(value)) return Number(value);
  const name = value.toUpperCase().startsWith('SIG') ? value.toUpperCase() : `SIG${value.toUpperCase()}`;
  const n = (constants.signals as Record<string, number>)[name];
  if (!n) throw new UsageError(`unknown signal "${value}"`);
  return n;
}

const taskDir = (context: CommandContext, id: string): string =>
  join(context.dirs.state, 'containerd-lite', 'tasks', context.namespace, id);
const logFile = (context: CommandContext, id: string): string =>
  join(context.dirs.root, 'containerd-lite', 'logs', context.namespace, `${id}.log`);

async function taskOf(tasks: Tasks, id: string): Promise<ProcessState | undefined> {
  try {
    return await tasks.get(id);
  } catch (err) {
    if (kindOf(err) === 'NotFound') return undefined;
    throw err;
  }
}

/**
 * The exit code docker gives when the runtime could not start the command. An engine that did
 * not answer is 125 whatever its message says (a socket's ENOENT is not the command's).
 */
function startFailure(err: unknown): number {
  if (err instanceof NotServingError || ['Unavailable', 'DeadlineExceeded', 'Cancelled'].includes(kindOf(err) ?? '')) return ENGINE_FAILED;
  const message = (err as Error).message;
  if (/no such file|not found in \$PATH|executable file not found|ENOENT/i.test(message)) return NOT_FOUND;
  if (/permission denied|EACCES|exec format error|is a directory/i.test(message)) return CANNOT_INVOKE;
  return ENGINE_FAILED;
}

interface Io {
  closed: Promise<void>;
  detach(): void;
}

/** Copies the shim's output to ours (and, with -i, our stdin to the process) until it closes. */
async function attach(socket: string, interactive: boolean, onStdinEnd: () => void): Promise<Io> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Attachment } = require('@ctl/runtime-native/attach') as typeof import('@ctl/runtime-native/attach');
  const a = await Attachment.connect(socket);
  a.on('stdout', (chunk: Buffer) => process.stdout.write(chunk));
  a.on('stderr', (chunk: Buffer) => process.stderr.write(chunk));
  const closed = new Promise<void>((resolve) => a.once('close', resolve));
  const onData = (d: Buffer): void => a.write(d);
  const onEnd = (): void => void a.flushed().then(onStdinEnd);
  if (interactive) {
    process.stdin.on('data', onData);
    process.stdin.once('end', onEnd);
  }
  return {
    closed,
    detach: () => {
      if (interactive) {
        process.stdin.off('data', onData);
        process.stdin.off('end', onEnd);
        process.stdin.pause();
      }
      a.close();
    },
  };
}

/**
 * Our terminal in raw mode, as docker's (cfmakeraw): libuv's raw mode keeps output processing,
 * which would turn the container terminal's \r\n into \r\r\n; stty turns it off (Node has no
 * termios call). setRawMode(false) restores the whole original state.
 */
function rawTerminal(): void {
  process.stdin.setRawMode(true);
  // loaded here: child_process costs every command its compile time, and only -t needs it
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
  spawnSync('stty', ['-opost'], { stdio: ['inherit', 'ignore', 'ignore'] });
}

/**
 * Runs a created task (or exec) in the foreground, or (running) follows one that runs already:
 * output, stdin, signals, terminal size; resolves with its exit code. An init's shim is there
 * before Start, so we attach first; an exec's shim starts with the process, so we attach right
 * after Start (the shim keeps what the process wrote before that for us) and read its log if
 * it is gone already.
 */
async function foreground(
  context: CommandContext,
  tasks: Tasks,
  id: string,
  o: { interactive: boolean; tty: boolean; socket: string; execId?: string; execLog?: string; running?: boolean },
): Promise<number> {
  const execId = o.execId ?? '';
  const connect = (): Promise<Io> => attach(o.socket, o.interactive, () => void tasks.closeIO(id, execId).catch(() => undefined));
  let io = execId ? undefined : await connect();
  const raw = o.tty && process.stdin.isTTY;
  if (raw) rawTerminal();
  const resize = (): void => {
    if (process.stdout.columns) void tasks.resizePty(id, execId, process.stdout.columns, process.stdout.rows).catch(() => undefined);
  };
  const forward = (signal: NodeJS.Signals): void => void tasks.kill(id, constants.signals[signal], { execId }).catch(() => undefined);
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
  try {
    try {
      if (!o.running) await tasks.start(id, execId);
    } catch (err) {
      context.err(`ctl${execId ? ' exec' : ''}: ${(err as Error).message}\n`);
      return startFailure(err);
    }
    if (!io) io = await connect().catch(() => undefined);
    if (o.tty) {
      resize();
      process.stdout.on('resize', resize);
    }
    if (!raw) for (const s of signals) process.on(s, forward);
    const exit = await tasks.wait(id, execId);
    if (io) {
      // The last output may still be on its way: the shim closes the socket once it has sent it.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([io.closed, new Promise((r) => (timer = setTimeout(r, 500)))]);
      clearTimeout(timer);
    } else if (o.execLog && existsSync(o.execLog)) {
      printLog(readFileSync(o.execLog, 'utf8'), {});
    }
    return exit.exitStatus;
  } finally {
    for (const s of signals) process.off(s, forward);
    if (o.tty) process.stdout.off('resize', resize);
    if (raw) process.stdin.setRawMode(false);
    io?.detach();
  }
}

/** --restart as labels the daemon's restart supervisor reads (UsageError when bad, or with --rm). */
function restartLabelsFrom(values: Record<string, unknown>): Record<string, string> {
  const value = values.restart as string | undefined;
  if (value === undefined) return {};
  let policy;
  try {
    policy = lite().parseRestartPolicy(value);
  } catch (err) {
    throw new UsageError(`--restart: ${(err as Error).message}`);
  }
  if (policy.name !== 'no' && values.rm) throw new UsageError('conflicting options: --restart and --rm');
  return lite().restartLabels(policy);
}

/** Labels the user may not set by hand: the supervisor's bookkeeping. */
const RESERVED_LABELS = (): string[] => Object.values(lite().RestartLabel);

function labelsFrom(values: Record<string, unknown>): Record<string, string> {
  const labels = parseLabelArgs((values.label as string[] | undefined) ?? []);
  for (const key of RESERVED_LABELS()) if (key in labels) throw new UsageError(`--label ${key}: reserved (use --restart)`);
  Object.assign(labels, restartLabelsFrom(values));
  if (values['stop-signal']) {
    signalNumber(values['stop-signal'] as string);
    labels[STOP_SIGNAL_LABEL] = values['stop-signal'] as string;
  }
  if (values['stop-timeout']) labels[STOP_TIMEOUT_LABEL] = String(Number(values['stop-timeout']));
  return labels;
}

/** A failure to get the image (pull or --pull never): docker's 125, whatever the message says. */
class ImageError extends Error {}

/** The runner's answer when the image has no record here (runner.ts: "image … not found"). */
const imageMissing = (err: unknown): boolean => kindOf(err) === 'NotFound' && /^image "/.test((err as Error).message);

/** Pulls the image (--pull always, or missing when it is not here); a failure is an ImageError. */
async function pullImage(context: CommandContext, clients: Clients, parsed: Parsed): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { normalizeReference } = require('@ctl/proto/reference') as typeof import('@ctl/proto/reference');
  try {
    // -u is the container's user here, so no credentials: anonymous pulls only.
    const registry = registryFlags({ 'plain-http': parsed.values['plain-http'] }, context.env);
    await pull(context, clients, normalizeReference(parsed.image), {
      snapshotter: parsed.values.snapshotter as string | undefined,
      registry,
    });
  } catch (err) {
    if (err instanceof NotServingError) throw err;
    throw new ImageError((err as Error).message);
  }
}

/**
 * The container, from the image by --pull's policy: pulled first (always); made from the local
 * image, and when there is none pulled (missing, as docker says "Unable to find image …
 * locally") or refused (never). The common case, a local image, costs no extra call.
 */
async function createContainer(
  context: CommandContext,
  a: Clients,
  argv: string[],
): Promise<{ id: string; parsed: ReturnType<typeof parseRunArgs>; rootfs: import('@ctl/snapshotter/client').Mount[] }> {
  const parsed = parseRunArgs(argv);
  const options = runOptions(parsed, context.env);
  const v = parsed.values;
  const policy = pullPolicy(v);
  if (policy === 'always') await pullImage(context, a, parsed);
  const request = {
    id: (v.name as string | undefined) ?? '',
    image: parsed.image,
    optionsJson: JSON.stringify(options),
    snapshotter: (v.snapshotter as string | undefined) ?? context.env.CTL_SNAPSHOTTER ?? '',
    labels: labelsFrom(v),
    runtime: runtimeFlag(parsed),
  };
  let created;
  try {
    created = await a.runner.create(request);
  } catch (err) {
    if (!imageMissing(err) || policy === 'always') throw err;
    const { familiarName, normalizeReference } =
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require('@ctl/proto/reference') as typeof import('@ctl/proto/reference');
    let name: string;
    try {
      name = familiarName(normalizeReference(parsed.image));
    } catch (bad) {
      throw new ImageError((bad as Error).message);
    }
    if (policy === 'never') throw new ImageError(`No such image: ${name}`);
    context.err(`Unable to find image '${name}' locally\n`);
    await pullImage(context, a, parsed);
    created = await a.runner.create(request);
  }
  for (const w of created.warnings) context.err(`WARNING: ${w}\n`);
  try {
    await a.tasks.create(created.id, { rootfs: created.rootfs, stdin: v.interactive ? 'attach' : '', terminal: Boolean(v.tty) });
  } catch (err) {
    await a.runner.remove(created.id, true, true).catch(() => undefined);
    throw err;
  }
  return { id: created.id, parsed, rootfs: created.rootfs };
}

/** Checks run/create options before anything is made; the exit code when they are bad. */
function refuseBadOptions(argv: string[], context: CommandContext, verb: string): number | undefined {
  try {
    const parsed = parseRunArgs(argv);
    runOptions(parsed, context.env);
    pullPolicy(parsed.values);
    labelsFrom(parsed.values);
    return undefined;
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    context.err(`ctl ${verb}: ${err.message}\nSee 'ctl ${verb} --help'.\n`);
    return ENGINE_FAILED;
  }
}

const RUN_USAGE = `Usage: ctl run [OPTIONS] IMAGE [COMMAND] [ARG...]

Runs a command in a new container (docker run's options):
  -d, --detach             run in the background and print the container id
  -i, --interactive        keep stdin open          -t, --tty  allocate a terminal
  --rm                     remove the container (and its anonymous volumes) when it exits
  --init                   run an init (tini, as /sbin/docker-init) as PID 1: it forwards
                           signals and reaps zombies; the command is its child
  --name NAME              container name (default: a random id)
  -e, --env K=V|K          environment (repeatable)  --env-file FILE
  -w, --workdir DIR        -u, --user USER[:GROUP]   --entrypoint CMD   --hostname NAME
  -v, --volume /host:/ctr[:ro] | NAME:/ctr[:ro] | /ctr (anonymous volume)
  --mount type=bind,source=/host,target=/ctr[,readonly]
  --mount type=volume[,source=NAME],target=/ctr[,readonly][,volume-nocopy]
  --mount type=tmpfs,target=/ctr[,tmpfs-size=64m][,tmpfs-mode=1777]
  --tmpfs /path[:opts]   --read-only
  -m, --memory SIZE  --memory-swap SIZE  --cpus N  -c, --cpu-shares N  --cpuset-cpus LIST
  --pids-limit N  --blkio-weight N  --ulimit NAME=SOFT[:HARD]  --shm-size SIZE
  --device-read-bps PATH:RATE  --device-write-bps PATH:RATE (RATE e.g. 1mb)
  --device-read-iops PATH:N  --device-write-iops PATH:N   (PATH a block device)
  --cap-add CAP  --cap-drop CAP  --privileged  --security-opt seccomp=unconfined|FILE|no-new-privileges
  -l, --label K=V  --stop-signal SIG  --stop-timeout SECONDS  --network none|host
  --restart no|on-failure[:N]|always|unless-stopped   restart the container when it exits
                           (the daemon does, with a back-off; not after ctl stop/kill)
  --snapshotter NAME  --runtime runtime-native|runc|crun (default runtime-native)
  --pull missing|always|never   pull the image first: when it is not here (default), always, or never
  --plain-http             pull over HTTP (always so for localhost and 127.0.0.1 registries)

Exit code: the command's; 125 when the engine fails, 126 when the command cannot be run,
127 when it is not found.
`;

const run: Command = {
  summary: 'Run a command in a new container',
  usage: RUN_USAGE,
  helpBeforeImageOnly: true,
  async run(argv, context) {
    // Bad options are the engine refusing the run: docker's 125, not a usage error's 2.
    const bad = refuseBadOptions(argv, context, 'run');
    if (bad !== undefined) return bad;
    return withClients(context, async (a) => {
      let made;
      try {
        made = await createContainer(context, a, argv);
      } catch (err) {
        // No daemon answered (nothing was made): withDaemon starts one and runs this again.
        if (err instanceof UsageError || err instanceof NotServingError) throw err;
        context.err(`ctl run: ${(err as Error).message}\n`);
        return err instanceof ImageError ? ENGINE_FAILED : startFailure(err);
      }
      const { id, parsed } = made;
      const v = parsed.values;
      if (v.detach) {
        try {
          await a.tasks.start(id);
        } catch (err) {
          context.err(`ctl run: ${(err as Error).message}\n`);
          return startFailure(err);
        }
        context.out(`${id}\n`);
        return 0;
      }
      const code = await foreground(context, a.tasks, id, {
        interactive: Boolean(v.interactive),
        tty: Boolean(v.tty),
        socket: join(taskDir(context, id), 'attach.sock'),
      });
      // Remove deletes the stopped task too (one call), and with it anonymous volumes, as docker's --rm.
      if (v.rm) await a.runner.remove(id, true, true).catch((err: unknown) => context.err(`ctl run: --rm: ${(err as Error).message}\n`));
      return code;
    });
  },
};

const create: Command = {
  summary: 'Create a container without starting it',
  usage: RUN_USAGE.replace('ctl run', 'ctl create').replace(
    'Runs a command in a new container',
    'Creates a container (start it with ctl start)',
  ),
  helpBeforeImageOnly: true,
  async run(argv, context) {
    const bad = refuseBadOptions(argv, context, 'create');
    if (bad !== undefined) return bad;
    return withClients(context, async (a) => {
      let id;
      try {
        ({ id } = await createContainer(context, a, argv));
      } catch (err) {
        if (!(err instanceof ImageError)) throw err;
        context.err(`ctl create: ${err.message}\n`);
        return ENGINE_FAILED;
      }
      context.out(`${id}\n`);
      return 0;
    });
  },
};

function ids(positionals: string[], verb: string): string[] {
  if (positionals.length === 0) throw new UsageError(`${verb} needs at least one CONTAINER`);
  return positionals;
}

/**
 * Runs fn for each container; errors are reported per container and make the exit code 1.
 * No daemon answering the first one goes to withDaemon, which starts one and runs all again.
 */
async function each(context: CommandContext, verb: string, list: string[], fn: (id: string) => Promise<void>): Promise<number> {
  let code = 0;
  for (const [i, id] of list.entries()) {
    try {
      await fn(id);
    } catch (err) {
      if (i === 0 && err instanceof NotServingError) throw err;
      context.err(`ctl ${verb}: ${id}: ${(err as Error).message}\n`);
      code = 1;
    }
  }
  return code;
}

type ContainerProcess = { args?: string[]; env?: string[]; cwd?: string; user?: { uid: number; gid: number; additionalGids?: number[] } };

/** The container's spec (its process and root are read here); {} when there is none. */
const specOf = (c: Container): { process?: ContainerProcess; root?: { path?: string } } =>
  lite().specOf<{ process?: ContainerProcess; root?: { path?: string } }>(c) ?? {};

/** Where a running container's root filesystem is on this host: the task's mounted rootfs, or the spec's own absolute root. */
function rootfsOf(context: CommandContext, id: string, c: Container): string {
  const own = specOf(c).root?.path;
  return own && own.startsWith('/') ? own : join(taskDir(context, id), 'rootfs');
}

/** exec -u NAME|UID[:GROUP|GID], names looked up in the container's /etc/passwd and /etc/group (as run -u). */
function execUser(spec: string, rootfs: string): { uid: number; gid: number; additionalGids?: number[] } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { resolveUser } = require('@ctl/runtime-native/user') as typeof import('@ctl/runtime-native/user');
  const u = resolveUser(spec, rootfs);
  return { uid: u.uid, gid: u.gid, ...(u.additionalGids.length ? { additionalGids: u.additionalGids } : {}) };
}

function statusText(task: ProcessState | undefined): string {
  if (!task) return 'Created';
  switch (task.status) {
    case 'RUNNING':
      return 'Up';
    case 'PAUSED':
      return 'Up (Paused)';
    case 'CREATED':
      return 'Created';
    case 'STOPPED':
      return `Exited (${task.exitStatus})${task.exitedAt ? ` ${age(task.exitedAt)} ago` : ''}`;
    default:
      return task.status;
  }
}

const start: Command = {
  summary: 'Start stopped or created containers',
  usage: 'Usage: ctl start [-a] CONTAINER...\n\n  -a, --attach   attach to output and wait (one container)\n',
  async run(argv, context) {
    const { values, positionals } = parseOptions(argv, { attach: { type: 'boolean', short: 'a' } });
    return withClients(context, async (a) => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { SnapshotsClient } = require('@ctl/snapshotter/client') as typeof import('@ctl/snapshotter/client');
      let code = 0;
      for (const id of ids(positionals, 'start')) {
        try {
          const task = await taskOf(a.tasks, id);
          if (task && task.status !== 'STOPPED' && task.status !== 'CREATED') throw new Error(`already ${task.status.toLowerCase()}`);
          const container = await a.containers.get(id);
          await markStoppedByUser(a, container, false);
          if (task?.status === 'STOPPED') await a.tasks.delete(id);
          if (!task || task.status === 'STOPPED') {
            const rootfs = await new SnapshotsClient(a.daemon.snapshotter, container.snapshotter).mounts(
              `${context.namespace}/${container.snapshotKey}`,
            );
            await a.tasks.create(id, { rootfs, terminal: false });
          }
          if (values.attach)
            return await foreground(context, a.tasks, id, {
              interactive: false,
              tty: false,
              socket: join(taskDir(context, id), 'attach.sock'),
            });
          await a.tasks.start(id);
          context.out(`${id}\n`);
        } catch (err) {
          context.err(`ctl start: ${id}: ${(err as Error).message}\n`);
          code = 1;
        }
      }
      return code;
    });
  },
};

const ps: Command = {
  summary: 'List containers',
  usage: 'Usage: ctl ps [-a] [-q] [--format json]\n\n  -a, --all   also containers that are not running\n',
  async run(argv, context) {
    const { values } = parseOptions(argv, {
      all: { type: 'boolean', short: 'a' },
      quiet: { type: 'boolean', short: 'q' },
      format: { type: 'string' },
    });
    return withClients(context, async (a) => {
      const [containers, tasks] = await Promise.all([a.containers.list(), a.tasks.list()]);
      const byId = new Map(tasks.filter((t) => !t.id).map((t) => [t.containerId, t]));
      const rows = containers
        .map((c) => ({ container: c, task: byId.get(c.id) }))
        .filter((r) => values.all || r.task?.status === 'RUNNING' || r.task?.status === 'PAUSED')
        .sort((x, y) => y.container.createdAt.getTime() - x.container.createdAt.getTime());
      if (values.quiet) context.out(rows.map((r) => `${r.container.id}\n`).join(''));
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
              exitCode: r.task?.status === 'STOPPED' ? r.task.exitStatus : null,
              labels: r.container.labels,
            })),
            null,
            2,
          )}\n`,
        );
      } else {
        context.out(
          table([
            ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS'],
            ...rows.map((r) => {
              const cmd = (specOf(r.container).process?.args ?? []).join(' ');
              return [
                r.container.id,
                r.container.image.replace(/^docker\.io\/(library\/)?/, ''),
                JSON.stringify(cmd.length > 30 ? `${cmd.slice(0, 29)}…` : cmd),
                `${age(r.container.createdAt)} ago`,
                statusText(r.task),
              ];
            }),
          ]),
        );
      }
      return 0;
    });
  },
};

/** Writes log records (the shim's JSON lines {time, stream, log}) to stdout and stderr. */
function printLog(text: string, o: { since?: number; timestamps?: boolean }): void {
  for (const line of text.split('\n')) {
    let rec: { time?: string; stream?: string; log?: string };
    try {
      rec = JSON.parse(line) as typeof rec;
    } catch {
      continue;
    }
    if (o.since && rec.time && Date.parse(rec.time) < o.since) continue;
    (rec.stream === 'stderr' ? process.stderr : process.stdout).write(`${o.timestamps && rec.time ? `${rec.time} ` : ''}${rec.log ?? ''}`);
  }
}

/** "10m", "2h", "30s" ago, or an RFC 3339 time / Unix seconds. */
function sinceTime(value: string): number {
  const rel = /^(\d+(?:\.\d+)?)(s|m|h)$/.exec(value);
  if (rel) return Date.now() - Number(rel[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[rel[2] as 's' | 'm' | 'h'];
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new UsageError(`--since ${value}: expected e.g. 10m, 2h, or an RFC 3339 time`);
  return t;
}

const logs: Command = {
  summary: "Show a container's output",
  usage:
    'Usage: ctl logs [-f] [--tail N] [--since TIME] [-t] CONTAINER\n\n  -f, --follow       keep printing until the container stops\n  --tail N           only the last N lines\n  --since TIME       only lines since TIME (10m, 2h, RFC 3339)\n  -t, --timestamps   prefix each line with its time\n',
  async run(argv, context) {
    const { values, positionals } = parseOptions(argv, {
      follow: { type: 'boolean', short: 'f' },
      tail: { type: 'string' },
      since: { type: 'string' },
      timestamps: { type: 'boolean', short: 't' },
    });
    if (positionals.length !== 1) throw new UsageError('logs needs one CONTAINER');
    const id = positionals[0]!;
    const since = values.since ? sinceTime(values.since) : 0;
    const tail = values.tail !== undefined && values.tail !== 'all' ? Number(values.tail) : undefined;
    if (tail !== undefined && !(Number.isInteger(tail) && tail >= 0)) throw new UsageError(`--tail ${values.tail}: expected a number`);
    return withClients(context, async (a) => {
      await a.containers.get(id);
      const file = logFile(context, id);
      const print = (line: string): void => printLog(line, { since, timestamps: values.timestamps });
      let offset = 0;
      let pending = '';
      const readNew = async (first: boolean): Promise<void> => {
        if (!existsSync(file)) return;
        const size = statSync(file).size;
        if (size <= offset) return;
        // fs/promises (and the readline modules it loads) only for logs -f, not for every command
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { open } = require('node:fs/promises') as typeof import('node:fs/promises');
        const fh = await open(file, 'r');
        try {
          const buf = Buffer.alloc(size - offset);
          await fh.read(buf, 0, buf.length, offset);
          offset = size;
          const lines = (pending + buf.toString('utf8')).split('\n');
          pending = lines.pop() ?? '';
          for (const line of first && tail !== undefined ? (tail === 0 ? [] : lines.slice(-tail)) : lines) print(line);
        } finally {
          await fh.close();
        }
      };
      await readNew(true);
      if (!values.follow) return 0;
      for (;;) {
        const task = await taskOf(a.tasks, id);
        const running = task && task.status !== 'STOPPED';
        await readNew(false);
        if (!running) return 0;
        await new Promise((r) => setTimeout(r, 100));
      }
    });
  },
};

/**
 * Tells the daemon's restart supervisor the user stopped the container (ctl stop, ctl kill), so
 * its restart policy does not bring it back; set before signalling. cleared by ctl start.
 */
async function markStoppedByUser(a: Clients, container: Container, stopped: boolean): Promise<void> {
  const { RestartLabel } = lite();
  if (!container.labels[RestartLabel.policy]) return;
  const labels: Record<string, string> = stopped ? { [RestartLabel.stoppedByUser]: 'true' } : {};
  const paths = [`labels.${RestartLabel.stoppedByUser}`];
  // A start by the user begins the count again (on-failure:N allows N more).
  if (!stopped) paths.push(`labels.${RestartLabel.count}`);
  await a.containers.update({ id: container.id, labels }, paths);
}

async function stopOne(a: Clients, id: string, timeoutSec: number | undefined): Promise<void> {
  const container = await a.containers.get(id);
  await markStoppedByUser(a, container, true);
  const task = await taskOf(a.tasks, id);
  if (!task || task.status === 'STOPPED' || task.status === 'CREATED') return;
  const signal = signalNumber(container.labels[STOP_SIGNAL_LABEL] ?? 'SIGTERM');
  const timeout = timeoutSec ?? Number(container.labels[STOP_TIMEOUT_LABEL] ?? 10);
  const exited = a.tasks.wait(id);
  if (task.status === 'PAUSED') await a.tasks.resume(id).catch(() => undefined);
  await a.tasks.kill(id, signal).catch((err: unknown) => {
    if (kindOf(err) !== 'NotFound') throw err;
  });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    exited.then(() => false),
    new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeout * 1000))),
  ]);
  clearTimeout(timer);
  if (timedOut) {
    await a.tasks.kill(id, constants.signals.SIGKILL, { all: true }).catch((err: unknown) => {
      if (kindOf(err) !== 'NotFound') throw err;
    });
    await exited;
  }
}

const stop: Command = {
  summary: 'Stop running containers (stop signal, then SIGKILL after the timeout)',
  usage:
    "Usage: ctl stop [-t SECONDS] CONTAINER...\n\n  -t, --time N   seconds to wait before SIGKILL (default: the container's --stop-timeout, else 10)\n",
  async run(argv, context) {
    const { values, positionals } = parseOptions(argv, { time: { type: 'string', short: 't' } });
    const timeout = values.time !== undefined ? Number(values.time) : undefined;
    if (timeout !== undefined && !(timeout >= 0)) throw new UsageError(`-t ${values.time}: expected seconds`);
    return withClients(context, (a) =>
      each(context, 'stop', ids(positionals, 'stop'), async (id) => {
        await stopOne(a, id, timeout);
        context.out(`${id}\n`);
      }),
    );
  },
};

const kill: Command = {
  summary: 'Send a signal to running containers',
  usage: 'Usage: ctl kill [-s SIGNAL] CONTAINER...\n',
  async run(argv, context) {
    const { values, positionals } = parseOptions(argv, { signal: { type: 'string', short: 's' } });
    const signal = signalNumber(values.signal ?? 'KILL');
    return withClients(context, (a) =>
      each(context, 'kill', ids(positionals, 'kill'), async (id) => {
        const task = await taskOf(a.tasks, id);
        if (!task || task.status === 'STOPPED') throw new Error('is not running');
        await markStoppedByUser(a, await a.containers.get(id), true);
        await a.tasks.kill(id, signal);
        context.out(`${id}\n`);
      }),
    );
  },
};

const rm: Command = {
  summary: 'Remove containers',
  usage:
    'Usage: ctl rm [-f] [-v] CONTAINER...\n\n  -f, --force     kill a running container first\n  -v, --volumes   also remove its anonymous volumes (unless another container uses them)\n',
  async run(argv, context) {
    const { values, positionals } = parseOptions(argv, {
      force: { type: 'boolean', short: 'f' },
      volumes: { type: 'boolean', short: 'v' },
    });
    return withClients(context, (a) =>
      each(context, 'rm', ids(positionals, 'rm'), async (id) => {
        await a.runner.remove(id, Boolean(values.force), Boolean(values.volumes));
        context.out(`${id}\n`);
      }),
    );
  },
};

const wait: Command = {
  summary: 'Wait for containers to stop; print their exit codes',
  usage: 'Usage: ctl wait CONTAINER...\n',
  async run(argv, context) {
    const { positionals } = parseOptions(argv, {});
    return withClients(context, (a) =>
      each(context, 'wait', ids(positionals, 'wait'), async (id) => {
        const exit = await a.tasks.wait(id);
        context.out(`${exit.exitStatus}\n`);
      }),
    );
  },
};

const inspect: Command = {
  summary: 'Show containers as JSON',
  usage: 'Usage: ctl inspect CONTAINER...\n',
  async run(argv, context) {
    const { positionals } = parseOptions(argv, {});
    return withClients(context, async (a) => {
      const out: unknown[] = [];
      const code = await each(context, 'inspect', ids(positionals, 'inspect'), async (id) => {
        const c = await a.containers.get(id);
        const task = await taskOf(a.tasks, id);
        const exitFile = join(taskDir(context, id), 'exit.json');
        const exit = existsSync(exitFile) ? (JSON.parse(readFileSync(exitFile, 'utf8')) as { oomKilled?: boolean }) : {};
        out.push({
          Id: c.id,
          Name: c.id,
          Image: c.image,
          Created: c.createdAt,
          State: {
            Status: (task?.status ?? 'CREATED').toLowerCase(),
            Running: task?.status === 'RUNNING',
            Paused: task?.status === 'PAUSED',
            Pid: task?.pid ?? 0,
            ExitCode: task?.status === 'STOPPED' ? task.exitStatus : 0,
            OOMKilled: Boolean(exit.oomKilled),
            FinishedAt: task?.exitedAt ?? null,
          },
          RestartCount: lite().restartCountOf(c.labels),
          HostConfig: {
            RestartPolicy: { Name: lite().policyOf(c.labels).name, MaximumRetryCount: lite().policyOf(c.labels).maxRetries },
            // docker's name of the OCI runtime; Runtime below is containerd's (the shim's)
            Runtime: lite().binaryName(c.runtime) || 'runtime-native',
          },
          Labels: c.labels,
          Snapshotter: c.snapshotter,
          SnapshotKey: c.snapshotKey,
          Runtime: c.runtime.name,
          LogPath: logFile(context, id),
          Spec: specOf(c),
        });
      });
      context.out(`${JSON.stringify(out, null, 2)}\n`);
      return code;
    });
  },
};

const exec: Command = {
  summary: 'Run a command in a running container',
  usage:
    'Usage: ctl exec [-i] [-t] [-d] [-e K=V] [-u USER[:GROUP]] [-w DIR] CONTAINER COMMAND [ARG...]\n\n  -u, --user   a name or UID (and group name or GID), looked up in the container\n',
  helpBeforeImageOnly: true,
  async run(argv, context) {
    // Options before CONTAINER; everything after it is the command.
    let i = 0;
    const opts: string[] = [];
    const takesValue = new Set(['-e', '--env', '-u', '--user', '-w', '--workdir']);
    for (; i < argv.length && argv[i]!.startsWith('-'); i++) {
      opts.push(argv[i]!);
      if (takesValue.has(argv[i]!) && i + 1 < argv.length) opts.push(argv[++i]!);
    }
    const [id, ...cmd] = argv.slice(i);
    const { values } = parseOptions(opts, {
      interactive: { type: 'boolean', short: 'i' },
      tty: { type: 'boolean', short: 't' },
      detach: { type: 'boolean', short: 'd' },
      env: { type: 'string', short: 'e', multiple: true },
      user: { type: 'string', short: 'u' },
      workdir: { type: 'string', short: 'w' },
    });
    if (!id || cmd.length === 0) throw new UsageError('exec needs a CONTAINER and a COMMAND');
    return withClients(context, async (a) => {
      const task = await taskOf(a.tasks, id);
      if (!task || task.status !== 'RUNNING') {
        context.err(`ctl exec: container ${id} is not running\n`);
        return 1;
      }
      const container = await a.containers.get(id);
      const base = specOf(container).process ?? {};
      const env = new Map((base.env ?? []).map((e) => [e.split('=')[0]!, e]));
      for (const e of values.env ?? []) env.set(e.split('=')[0]!, e.includes('=') ? e : `${e}=${context.env[e] ?? ''}`);
      let user = base.user ?? { uid: 0, gid: 0 };
      if (values.user) {
        try {
          user = execUser(values.user, rootfsOf(context, id, container));
        } catch (err) {
          // docker's words and code for a user the container does not know
          context.err(`ctl exec: ${(err as Error).message.replace(/^process\.user: /, '')}\n`);
          return CANNOT_INVOKE;
        }
      }
      const execId = `exec-${Math.random().toString(16).slice(2, 10)}`;
      // docker gives a terminal its TERM
      if (values.tty && !env.has('TERM')) env.set('TERM', 'TERM=xterm');
      const spec = {
        ...base,
        args: cmd,
        env: [...env.values()],
        cwd: values.workdir ?? base.cwd ?? '/',
        user,
        terminal: Boolean(values.tty),
      };
      await a.tasks.exec(id, { execId, spec, stdin: values.interactive ? 'attach' : '', terminal: Boolean(values.tty) });
      const dir = join(taskDir(context, id), 'exec', execId);
      try {
        if (values.detach) {
          try {
            await a.tasks.start(id, execId);
          } catch (err) {
            context.err(`ctl exec: ${(err as Error).message}\n`);
            return startFailure(err);
          }
          return 0;
        }
        return await foreground(context, a.tasks, id, {
          interactive: Boolean(values.interactive),
          tty: Boolean(values.tty),
          socket: join(dir, 'attach.sock'),
          execId,
          execLog: join(dir, 'exec.log'),
        });
      } finally {
        if (!values.detach) await a.tasks.deleteProcess(id, execId).catch(() => undefined);
      }
    });
  },
};

const attachCommand: Command = {
  summary: "Attach to a running container's input and output",
  usage: `Usage: ctl attach [--no-stdin] CONTAINER

Shows the container's output from now on and, when it was made with -i, gives it our input
(end of input closes its stdin); with a terminal (-t), ours is raw and its size follows ours.
Signals go to the container (on a terminal, ^C is the container's). Exits with its exit code.
  --no-stdin   do not attach input
`,
  async run(argv, context) {
    const { values, positionals } = parseOptions(argv, { 'no-stdin': { type: 'boolean' } });
    if (positionals.length !== 1) throw new UsageError('attach needs one CONTAINER');
    const id = positionals[0]!;
    return withClients(context, async (a) => {
      await a.containers.get(id);
      const task = await taskOf(a.tasks, id);
      if (!task || (task.status !== 'RUNNING' && task.status !== 'PAUSED')) {
        context.err(`ctl attach: ${id}: you cannot attach to a stopped container, start it first\n`);
        return 1;
      }
      const interactive = !values['no-stdin'] && task.stdin !== '';
      return foreground(context, a.tasks, id, {
        interactive,
        tty: task.terminal,
        socket: join(taskDir(context, id), 'attach.sock'),
        running: true,
      });
    });
  },
};

export const commands: Record<string, Command> = {
  run,
  create,
  start,
  ps,
  logs,
  stop,
  kill,
  rm,
  wait,
  inspect,
  exec,
  attach: attachCommand,
};

// For the other container commands (container-more.ts): one way to reach the daemon, find a
// task, stop a container and report per container.
export { each, ids, kindOf, stopOne, taskOf };
