/**
 * `ctl run`/`ctl create` options, Docker's spelling: options come before IMAGE, and everything
 * after IMAGE is the command (so `ctl run busybox ls -l` passes -l to ls). Parsed here into
 * ctl.run.v1's ContainerConfig (sizes in bytes, structured mounts), which the daemon turns into
 * the OCI spec; what a container may be is the daemon's to judge, the flags' syntax is ours.
 */
import type { ContainerConfig } from '@ctl/proto/generated/ctl/run/v1/ContainerConfig';
import type { Lifecycle } from '@ctl/proto/generated/ctl/run/v1/Lifecycle';
import type { Process } from '@ctl/proto/generated/ctl/run/v1/Process';
import type { Resources } from '@ctl/proto/generated/ctl/run/v1/Resources';
import type { Rlimit } from '@ctl/proto/generated/ctl/run/v1/Rlimit';
import type { Security } from '@ctl/proto/generated/ctl/run/v1/Security';
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError } from './args';
import { type OptionTable, parseLeadingOptions } from './options';
import { type Mount, checkDuplicates, parseMountFlag, parseVolumeFlag } from './mounts';
import { NETWORK_FLAGS, networkConfig } from './netflags';
import { signalNumber } from './signals';
import { parseBytes } from './sizes';

export { parseBytes };

interface Flag {
  name: string;
  short?: string;
  value: boolean;
  multiple?: boolean;
}

const FLAGS: Flag[] = [
  { name: 'detach', short: 'd', value: false },
  { name: 'interactive', short: 'i', value: false },
  { name: 'tty', short: 't', value: false },
  { name: 'rm', value: false },
  { name: 'init', value: false },
  { name: 'name', value: true },
  { name: 'env', short: 'e', value: true, multiple: true },
  { name: 'env-file', value: true, multiple: true },
  { name: 'workdir', short: 'w', value: true },
  { name: 'user', short: 'u', value: true },
  { name: 'entrypoint', value: true },
  { name: 'hostname', value: true },
  { name: 'read-only', value: false },
  { name: 'memory', short: 'm', value: true },
  { name: 'memory-swap', value: true },
  { name: 'memory-reservation', value: true },
  { name: 'cpus', value: true },
  { name: 'cpu-shares', short: 'c', value: true },
  { name: 'cpu-period', value: true },
  { name: 'cpu-quota', value: true },
  { name: 'cpuset-cpus', value: true },
  { name: 'cpuset-mems', value: true },
  { name: 'pids-limit', value: true },
  { name: 'blkio-weight', value: true },
  { name: 'device-read-bps', value: true, multiple: true },
  { name: 'device-write-bps', value: true, multiple: true },
  { name: 'device-read-iops', value: true, multiple: true },
  { name: 'device-write-iops', value: true, multiple: true },
  { name: 'cap-add', value: true, multiple: true },
  { name: 'cap-drop', value: true, multiple: true },
  { name: 'privileged', value: false },
  { name: 'security-opt', value: true, multiple: true },
  { name: 'ulimit', value: true, multiple: true },
  { name: 'label', short: 'l', value: true, multiple: true },
  { name: 'volume', short: 'v', value: true, multiple: true },
  { name: 'tmpfs', value: true, multiple: true },
  { name: 'mount', value: true, multiple: true },
  { name: 'stop-signal', value: true },
  { name: 'stop-timeout', value: true },
  { name: 'snapshotter', value: true },
  { name: 'runtime', value: true },
  { name: 'shm-size', value: true },
  { name: 'storage-opt', value: true, multiple: true },
  { name: 'restart', value: true },
  { name: 'pull', value: true },
  { name: 'plain-http', value: false },
  ...NETWORK_FLAGS,
];

/** Option values as a command parsed them (parseOptions' or parseLeadingOptions'). */
export type FlagValues = Readonly<Record<string, string | boolean | string[] | undefined>>;

export type Parsed = { values: Record<string, string | boolean | string[] | undefined>; image: string; command: string[] };

/** The run/create options as a parseOptions table. */
const OPTIONS: OptionTable = Object.fromEntries(
  FLAGS.map((f) => [
    f.name,
    { type: f.value ? 'string' : 'boolean', ...(f.short && { short: f.short }), ...(f.multiple && { multiple: true }) },
  ]),
) as OptionTable;

/** Splits argv into options, IMAGE and the command after it. */
export function parseRunArgs(argv: string[], needImage = true): Parsed {
  const { values, rest } = parseLeadingOptions(argv, OPTIONS);
  const image = rest[0] ?? '';
  if (needImage && !image) throw new UsageError('requires at least 1 argument (IMAGE)');
  return { values: values as Parsed['values'], image, command: rest.slice(1) };
}

function number(value: string, what: string): number {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`${what}: "${value}" is not a number`);
  return n;
}

function envFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`--env-file ${path}: ${(err as Error).message}`);
  }
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

/** -e NAME takes NAME's value from this environment, as docker does. */
const envArg = (e: string, env: NodeJS.ProcessEnv): string | undefined =>
  e.includes('=') ? e : env[e] !== undefined ? `${e}=${env[e]}` : undefined;

const ULIMIT = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/;

export type PullPolicy = 'missing' | 'always' | 'never';

/** --pull missing|always|never (docker's; default missing: pull only an image that is not here). */
export function pullPolicy(values: Parsed['values']): PullPolicy {
  const value = (values.pull as string | undefined) ?? 'missing';
  if (value !== 'missing' && value !== 'always' && value !== 'never')
    throw new UsageError(`--pull ${value}: expected missing, always or never`);
  return value;
}

/** The runtimes --runtime takes; io.containerd.runc.v2 (the shim's name) and ctl mean the default. */
const RUNTIMES: Record<string, string> = { 'runtime-native': '', ctl: '', 'io.containerd.runc.v2': '', runc: 'runc', crun: 'crun' };

/** --runtime as the daemon's Create takes it: "" for runtime-native (the default), runc or crun. */
export function runtimeFlag(p: Parsed): string {
  const name = p.values.runtime as string | undefined;
  if (name === undefined) return '';
  const runtime = RUNTIMES[name];
  if (runtime === undefined) throw new UsageError(`--runtime ${name}: unknown runtime (supported: runtime-native, runc, crun)`);
  return runtime;
}

/**
 * docker's --device-{read,write}-{bps,iops} PATH:RATE, as the spec's throttle rules: the block
 * device's major:minor on this host (the daemon's: it runs here), the rate in bytes (1mb, 512k)
 * or I/O operations per second.
 */
function throttleFlag(flag: string, value: string, iops: boolean): { major: number; minor: number; rate: number } {
  const colon = value.lastIndexOf(':');
  const file = colon > 0 ? value.slice(0, colon) : '';
  const rateText = colon > 0 ? value.slice(colon + 1) : '';
  if (!file || !rateText) throw new UsageError(`--${flag} ${value}: expected PATH:RATE, e.g. /dev/sda:${iops ? '100' : '1mb'}`);
  let rate: number;
  if (iops) {
    if (!/^\d+$/.test(rateText)) throw new UsageError(`--${flag} ${value}: the rate must be a whole number of I/O operations per second`);
    rate = Number(rateText);
  } else {
    rate = parseBytes(rateText, `--${flag} ${value}`);
  }
  let st;
  try {
    st = statSync(file, { bigint: true });
  } catch (err) {
    throw new UsageError(
      `--${flag} ${value}: ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such device' : (err as Error).message}`,
    );
  }
  if (!st.isBlockDevice()) throw new UsageError(`--${flag} ${value}: ${file} is not a block device`);
  // Linux's dev_t: major in bits 8-19 and 32-43, minor in bits 0-7 and 20-31.
  const dev = st.rdev;
  const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
  const minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
  return { major, minor, rate };
}

/** containerd-lite's client entry, loaded when needed (as the commands do): it has the restart policy parser. */
type Client = typeof import('@ctl/containerd-lite/client');

/** A whole number, as docker's integer flags take them. */
function integer(value: string, what: string): number {
  if (!/^-?\d+$/.test(value.trim())) throw new UsageError(`${what}: "${value}" is not a whole number`);
  return Number(value);
}

/** --storage-opt size=SIZE (docker's; the only key known): the writable layer's size limit in bytes. */
function storageOpts(opts: string[]): number | undefined {
  let size: number | undefined;
  for (const opt of opts) {
    const eq = opt.indexOf('=');
    const key = opt.slice(0, eq).trim().toLowerCase();
    if (eq < 0 || key !== 'size') throw new UsageError(`--storage-opt ${opt}: supported: size=SIZE (e.g. size=20m)`);
    size = parseBytes(opt.slice(eq + 1), `--storage-opt ${opt}`);
    if (size <= 0) throw new UsageError(`--storage-opt ${opt}: the size must be more than 0`);
  }
  return size;
}

/** --security-opt seccomp=unconfined|FILE and no-new-privileges (FILE: an OCI seccomp profile). */
function securityOpts(opts: string[]): Pick<Security, 'noNewPrivileges' | 'seccomp'> {
  const s: Pick<Security, 'noNewPrivileges' | 'seccomp'> = {};
  for (const opt of opts) {
    if (opt === 'no-new-privileges' || opt === 'no-new-privileges:true' || opt === 'no-new-privileges=true') s.noNewPrivileges = true;
    else if (opt === 'seccomp=unconfined' || opt === 'seccomp:unconfined') s.seccomp = { mode: 'UNCONFINED' };
    else if (/^seccomp[=:]/.test(opt)) {
      const file = resolve(opt.slice('seccomp='.length));
      try {
        const text = readFileSync(file, 'utf8');
        JSON.parse(text);
        s.seccomp = { mode: 'PROFILE', profileJson: text };
      } catch (err) {
        throw new UsageError(`--security-opt ${opt}: ${(err as Error).message}`);
      }
    } else throw new UsageError(`--security-opt ${opt}: supported: seccomp=unconfined|FILE, no-new-privileges`);
  }
  return s;
}

/** --stop-signal, --stop-timeout, --restart and -d's --rm (UsageError when bad, or --restart with --rm). */
function lifecycle(v: Parsed['values']): Lifecycle {
  const l: Lifecycle = {};
  const signal = v['stop-signal'] as string | undefined;
  if (signal) {
    signalNumber(signal);
    l.stopSignal = signal;
  }
  if (v['stop-timeout']) l.stopTimeout = integer(v['stop-timeout'] as string, '--stop-timeout');
  const restart = v.restart as string | undefined;
  if (restart !== undefined) {
    let policy;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      policy = (require('@ctl/containerd-lite/client') as Client).parseRestartPolicy(restart);
    } catch (err) {
      throw new UsageError(`--restart: ${(err as Error).message}`);
    }
    if (policy.name !== 'no' && v.rm) throw new UsageError('conflicting options: --restart and --rm');
    l.restartPolicy = { name: policy.name, maximumRetryCount: policy.maxRetries };
  }
  // In the foreground ctl run removes the container itself after the exit; detached, the daemon does.
  if (v.rm && v.detach) l.autoRemove = true;
  return l;
}

/** -v, --mount and --tmpfs, in Docker's syntax (see mounts.ts); a destination only once. */
function mounts(list: (name: string) => string[]): Mount[] {
  const parsed = [
    ...list('volume').map((v) => ({ what: `-v ${v}`, mount: parseVolumeFlag(v) })),
    ...list('mount').map((v) => ({ what: `--mount ${v}`, mount: parseMountFlag(v) })),
    ...list('tmpfs').map((t) => {
      const [destination, opts] = t.split(':');
      if (!destination?.startsWith('/')) throw new UsageError(`--tmpfs ${t}: expected /path[:options]`);
      return { what: `--tmpfs ${t}`, mount: { destination, tmpfs: {}, options: opts ? opts.split(',') : [] } };
    }),
  ];
  checkDuplicates(parsed.map(({ what, mount }) => ({ destination: mount.destination!, what })));
  return parsed.map((p) => p.mount);
}

/**
 * The cgroup limits docker's run and build flags share (--memory, --memory-swap,
 * --memory-reservation, --cpus, --cpu-shares, --cpu-period, --cpu-quota, --cpuset-cpus,
 * --cpuset-mems, --pids-limit, --blkio-weight), in ctl.run.v1's terms: a command passes the
 * values it parsed, and one it does not have stays unset. One parser, so that a bad value gets
 * the same UsageError from `ctl run` and `ctl build`.
 */
export function resourceFlags(v: FlagValues): Resources {
  const str = (name: string): string | undefined => v[name] as string | undefined;
  const bytes = (name: string): number | undefined => (str(name) ? parseBytes(str(name)!, `--${name}`) : undefined);
  const whole = (name: string): number | undefined => (str(name) ? integer(str(name)!, `--${name}`) : undefined);
  return {
    memoryBytes: bytes('memory'),
    memorySwapBytes: str('memory-swap') === '-1' ? -1 : bytes('memory-swap'),
    memoryReservationBytes: bytes('memory-reservation'),
    cpus: str('cpus') ? number(str('cpus')!, '--cpus') : undefined,
    cpuShares: whole('cpu-shares'),
    cpuPeriod: whole('cpu-period'),
    cpuQuota: whole('cpu-quota'),
    cpusetCpus: str('cpuset-cpus') ?? '',
    cpusetMems: str('cpuset-mems') ?? '',
    pidsLimit: whole('pids-limit'),
    blkioWeight: whole('blkio-weight'),
  };
}

/** --ulimit NAME=SOFT[:HARD] (repeatable), for run and build: the process's rlimits. */
export function ulimitFlags(items: readonly string[]): Rlimit[] {
  return items.map((u) => {
    const m = ULIMIT.exec(u);
    if (!m) throw new UsageError(`--ulimit ${u}: expected NAME=SOFT[:HARD], e.g. nofile=1024:2048`);
    return { type: `RLIMIT_${m[1]!.toUpperCase()}`, soft: Number(m[2]), hard: Number(m[3] ?? m[2]) };
  });
}

/** --shm-size, for run and build: /dev/shm's size in bytes; undefined for the default. */
export function shmSizeFlag(v: FlagValues): number | undefined {
  const value = v['shm-size'] as string | undefined;
  return value ? parseBytes(value, '--shm-size') : undefined;
}

/** The container the flags describe, as ctl.run.v1's ContainerConfig: parsed values only. */
export function containerConfig(p: Parsed, env: NodeJS.ProcessEnv): ContainerConfig {
  const v = p.values;
  const list = (name: string): string[] => (v[name] as string[] | undefined) ?? [];
  const str = (name: string): string | undefined => v[name] as string | undefined;
  const entrypoint = str('entrypoint');
  const processConfig: Process = {
    cmd: p.command,
    ...(entrypoint !== undefined ? { entrypoint: { values: entrypoint ? [entrypoint] : [] } } : {}),
    env: [
      ...list('env-file').flatMap(envFile),
      ...list('env')
        .map((e) => envArg(e, env))
        .filter((e): e is string => Boolean(e)),
    ],
    user: str('user') ?? '',
    workdir: str('workdir') ?? '',
    tty: Boolean(v.tty),
    rlimits: ulimitFlags(list('ulimit')),
  };
  const throttles = (flag: string, iops: boolean) => list(flag).map((value) => throttleFlag(flag, value, iops));
  const resources: Resources = {
    ...resourceFlags(v),
    deviceReadBps: throttles('device-read-bps', false),
    deviceWriteBps: throttles('device-write-bps', false),
    deviceReadIops: throttles('device-read-iops', true),
    deviceWriteIops: throttles('device-write-iops', true),
    diskBytes: storageOpts(list('storage-opt')),
  };
  const security: Security = {
    privileged: Boolean(v.privileged),
    capAdd: list('cap-add'),
    capDrop: list('cap-drop'),
    readonlyRootfs: Boolean(v['read-only']),
    ...securityOpts(list('security-opt')),
  };
  const { namespaces, networking } = networkConfig(v, env);
  runtimeFlag(p);
  return {
    process: processConfig,
    resources,
    mounts: mounts(list),
    security,
    namespaces,
    networking,
    lifecycle: lifecycle(v),
    hostname: str('hostname') ?? '',
    init: Boolean(v.init),
    shmSizeBytes: shmSizeFlag(v),
  };
}
