/**
 * A RUN step's container: made by the runner on the stage's state (an unnamed manifest the
 * build's lease holds), its task created, its output read from the shim's attach socket from
 * before it starts, waited for, and deleted. The container (and, unless the caller has taken
 * it, its snapshot) always goes, also on failure and cancellation (the task is killed first).
 *
 * Mount points: the runtime creates what a mount needs that the image lacks (/etc/hosts,
 * /etc/resolv.conf, a cache mount's target), and those empty stubs would land in the layer.
 * The paths missing before the run are noted, and afterwards removed again when they are still
 * only empty files and directories (BuildKit removes its stubs the same way).
 */
import { EngineError, ErrorKind, isKind } from '@ctl/proto/errors';
import type { ContainerConfig__Output } from '@ctl/proto/generated/ctl/run/v1/ContainerConfig';
import type { Mount__Output } from '@ctl/proto/generated/ctl/run/v1/Mount';
import type { Resources__Output } from '@ctl/proto/generated/ctl/run/v1/Resources';
import type { Rlimit__Output } from '@ctl/proto/generated/ctl/run/v1/Rlimit';
import { Attachment } from '@ctl/runtime-native';
import { type Mount, withReadonlyTempMount, withTempMount } from '@ctl/runtime-native/mount';
import { randomBytes } from 'node:crypto';
import { lstatSync, readdirSync } from 'node:fs';
import { rm, rmdir, utimes } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { type Containers, specOf } from '../containers/containers';
import type { Descriptor } from '../oci';
import { BUILD_LABEL, type CreateRequest, type Created } from '../run/runner';
import type { Tasks } from '../tasks/tasks';

export interface RunStepDeps {
  runner: {
    create(ns: string, request: CreateRequest): Promise<Created>;
    remove(ns: string, id: string, force: boolean, removeVolumes?: boolean): Promise<void>;
  };
  containers(ns: string): Containers;
  tasks(ns: string): Tasks;
  attachPath(ns: string, id: string): string;
  /** Whether the OOM killer ended the container's task (asked before the task is deleted). */
  oomKilled?(ns: string, id: string): boolean;
  tmpRoot: string;
}

/**
 * What every RUN container of a build may use (docker build's --memory, --cpu-*, --ulimit,
 * --shm-size), in ctl.run.v1's terms: the runner checks and applies them as it does `ctl run`'s.
 */
export interface RunLimits {
  resources: Resources__Output | null;
  rlimits: Rlimit__Output[];
  shmSizeBytes?: number;
}

export const NO_LIMITS: RunLimits = { resources: null, rlimits: [] };

const RESOURCE_FIELDS = [
  'memoryBytes',
  'memoryReservationBytes',
  'memorySwapBytes',
  'cpuShares',
  'cpus',
  'cpuQuota',
  'cpuPeriod',
  'cpusetCpus',
  'cpusetMems',
  'pidsLimit',
  'blkioWeight',
  'deviceReadBps',
  'deviceWriteBps',
  'deviceReadIops',
  'deviceWriteIops',
  'diskBytes',
] as const satisfies readonly (keyof Resources__Output)[];

/**
 * The limits as a RUN step's cache key has them: only what is set, so that a build without
 * limits keeps the keys it had; undefined when nothing is. A step's output may depend on its
 * limits (a test suite that reads them, a make -j from the CPUs it sees), as BuildKit also keys
 * its exec ops by their rlimits.
 */
export function limitsKey(limits: RunLimits): object | undefined {
  const set = (v: unknown): boolean => v !== undefined && v !== null && v !== '' && !(Array.isArray(v) && v.length === 0);
  const resources = Object.fromEntries(RESOURCE_FIELDS.map((f) => [f, limits.resources?.[f]]).filter(([, v]) => set(v)));
  const key = {
    ...(Object.keys(resources).length ? { resources } : {}),
    ...(limits.rlimits.length ? { rlimits: limits.rlimits.map((r) => [r.type, r.soft, r.hard]) } : {}),
    ...(set(limits.shmSizeBytes) ? { shm: limits.shmSizeBytes } : {}),
  };
  return Object.keys(key).length ? key : undefined;
}

export interface RunStepRequest {
  /** The state's image: the build's lease holds it. */
  manifest: Descriptor;
  snapshotter: string;
  args: string[];
  /** Added to (and over) the state's Env. */
  env: string[];
  user: string;
  workdir: string;
  network: 'none' | 'host' | 'default';
  limits: RunLimits;
  /** Binds: cache mounts, heredoc scripts. */
  binds: { source: string; destination: string; readonly: boolean }[];
  /** What the step is, for the container's label. */
  description: string;
  output?(stream: 1 | 2, data: Buffer): void;
  signal?: AbortSignal;
}

/** A RUN that exited non-zero, as BuildKit words it; one the OOM killer ended says so (137 alone is any SIGKILL). */
export class RunFailed extends EngineError {
  constructor(
    readonly args: string[],
    readonly exitStatus: number,
    readonly oomKilled = false,
  ) {
    super(
      ErrorKind.Unknown,
      `process ${JSON.stringify(args.join(' '))} did not complete successfully: exit code: ${exitStatus}` +
        (oomKilled ? ' (out of memory: the kernel killed it at the memory limit)' : ''),
    );
  }
}

/** How long the last output may take to arrive after the exit (the shim closes the socket once sent). */
const DRAIN_MS = 500;
/** The default network (docker's bridge, netd's). */
const DEFAULT_NETWORK = 'bridge';

function containerConfig(r: RunStepRequest): ContainerConfig__Output {
  const mounts: Mount__Output[] = r.binds.map((b) => ({
    destination: b.destination,
    bind: { source: b.source, nonrecursive: false, propagation: '' },
    readonly: b.readonly,
    options: [],
    source: 'bind',
  }));
  return {
    process: {
      cmd: r.args,
      // the image's Entrypoint and Cmd do not apply: the step's command is the whole command
      entrypoint: { values: [] },
      env: r.env,
      user: r.user,
      additionalGids: [],
      workdir: r.workdir,
      tty: false,
      rlimits: r.limits.rlimits,
    },
    resources: r.limits.resources,
    mounts,
    security: null,
    namespaces: {
      network: r.network === 'host' ? 'HOST' : 'NONE',
      networkPath: '',
      networkContainer: '',
      hostPid: false,
      hostIpc: false,
      hostUts: false,
      cgroup: false,
      uidMappings: [],
      gidMappings: [],
    },
    lifecycle: null,
    hostname: '',
    init: false,
    ...(r.limits.shmSizeBytes !== undefined ? { shmSizeBytes: r.limits.shmSizeBytes } : {}),
    sysctls: {},
    annotations: {},
    networking:
      r.network === 'default'
        ? {
            networks: [{ network: DEFAULT_NETWORK, aliases: [], ipv4Address: '', ipv6Address: '', macAddress: '' }],
            ports: [],
            publishAll: false,
            expose: [],
            dns: [],
            dnsSearch: [],
            dnsOptions: [],
            extraHosts: [],
            egressBps: 0,
            ingressBps: 0,
          }
        : null,
  };
}

/** The destinations mounted on the rootfs itself (not inside another mount, as /dev/pts is in /dev). */
function rootfsMountPoints(destinations: string[]): string[] {
  const normal = [...new Set(destinations.map((d) => posix.normalize(d)))];
  return normal.filter((d) => d !== '/' && !normal.some((o) => o !== d && o !== '/' && d.startsWith(`${o}/`)));
}

/** The first component of path missing under root, if one is (undefined also when a component is a link: not ours to judge). */
function firstMissing(root: string, path: string): string | undefined {
  let at = '';
  for (const part of path.split('/').filter(Boolean)) {
    at = `${at}/${part}`;
    try {
      const st = lstatSync(join(root, at));
      if (st.isSymbolicLink()) return undefined;
    } catch {
      return at;
    }
  }
  return undefined;
}

/** Whether path (under root, reached through real directories only) holds only empty files and directories. */
function onlyStubs(root: string, path: string): boolean {
  const parts = path.split('/').filter(Boolean);
  for (let i = 1; i < parts.length; i++) {
    const st = lstatSync(join(root, ...parts.slice(0, i)), { throwIfNoEntry: false });
    if (!st?.isDirectory()) return false;
  }
  const empty = (full: string): boolean => {
    const st = lstatSync(full, { throwIfNoEntry: false });
    if (!st) return false;
    if (st.isFile()) return st.size === 0;
    if (!st.isDirectory()) return false;
    return readdirSync(full).every((e) => empty(join(full, e)));
  };
  return empty(join(root, ...parts));
}

interface Stubs {
  /** The mount points missing before the run (each the first missing component of one). */
  paths: string[];
  /** Their existing parents as they were: times, owner, mode, entries. */
  parents: Map<string, { atime: Date; mtime: Date; mode: number; uid: number; gid: number; entries: string }>;
}

function findStubs(root: string, points: string[]): Stubs {
  const paths = [...new Set(points.map((p) => firstMissing(root, p)).filter((p): p is string => Boolean(p)))];
  const parents: Stubs['parents'] = new Map();
  for (const path of paths) {
    for (let dir = posix.dirname(path); dir !== '/'; dir = posix.dirname(dir)) {
      if (parents.has(dir)) continue;
      const st = lstatSync(join(root, dir));
      parents.set(dir, { ...st, atime: st.atime, mtime: st.mtime, entries: readdirSync(join(root, dir)).sort().join('/') });
    }
  }
  return { paths, parents };
}

/**
 * Removes the stubs that are still only stubs, and gives their parents their times back. On
 * an overlay, a parent that the stubs alone copied up (its upper copy empty, the merged view
 * showing the lower's entries again) is removed from the upper dir, so the layer has no trace.
 */
async function removeStubs(rootfs: Mount[], tmpRoot: string, stubs: Stubs): Promise<void> {
  const clean = new Set<string>();
  await withTempMount(rootfs, tmpRoot, async (root) => {
    for (const stub of [...stubs.paths].sort().reverse())
      if (onlyStubs(root, stub)) await rm(join(root, stub), { recursive: true, force: true });
    for (const [dir, was] of stubs.parents) {
      const st = lstatSync(join(root, dir), { throwIfNoEntry: false });
      if (!st?.isDirectory()) continue;
      if (readdirSync(join(root, dir)).sort().join('/') === was.entries && st.mode === was.mode && st.uid === was.uid && st.gid === was.gid)
        clean.add(dir);
      await utimes(join(root, dir), was.atime, was.mtime);
    }
  });
  const overlay = rootfs.length === 1 && rootfs[0]!.type === 'overlay' ? rootfs[0]! : undefined;
  const upper = overlay?.options.find((o) => o.startsWith('upperdir='))?.slice('upperdir='.length);
  if (!upper) return;
  for (const dir of [...clean].sort().reverse()) {
    const inUpper = join(upper, dir);
    if (lstatSync(inUpper, { throwIfNoEntry: false })?.isDirectory() && readdirSync(inUpper).length === 0) await rmdir(inUpper);
  }
}

/**
 * Runs the step's command in a new container and, when it succeeded, fn on the container's
 * snapshot key (the snapshot holds the step's changes: fn may commit it); then removes the
 * container. Throws RunFailed for a non-zero exit, Canceled when the signal fired.
 */
export async function runStep<T>(deps: RunStepDeps, ns: string, r: RunStepRequest, fn: (snapshotKey: string) => Promise<T>): Promise<T> {
  r.signal?.throwIfAborted();
  const id = `build-${randomBytes(8).toString('hex')}`;
  const created = await deps.runner.create(ns, {
    id,
    image: '',
    config: containerConfig(r),
    snapshotter: r.snapshotter,
    labels: { [`${BUILD_LABEL}.step`]: r.description.slice(0, 200) },
    build: { manifest: r.manifest },
  });
  try {
    const container = await deps.containers(ns).get(id);
    const destinations = (specOf<{ mounts?: { destination: string }[] }>(container)?.mounts ?? []).map((m) => m.destination);
    const points = rootfsMountPoints(destinations);
    const stubs = await withReadonlyTempMount(created.rootfs, deps.tmpRoot, (root) => findStubs(root, points));
    const exit = await runTask(deps, ns, id, created.rootfs, r);
    if (r.signal?.aborted) throw new EngineError(ErrorKind.Canceled, 'the build was cancelled');
    if (exit.status !== 0) throw new RunFailed(r.args, exit.status, exit.oomKilled);
    if (stubs.paths.length) await removeStubs(created.rootfs, deps.tmpRoot, stubs);
    return await fn(id);
  } finally {
    await deps.runner.remove(ns, id, true).catch((err: unknown) => {
      if (!isKind(err, ErrorKind.NotFound)) throw err;
    });
  }
}

/** Creates, starts, waits for and deletes the container's task; its exit status, and whether the OOM killer ended it. */
async function runTask(
  deps: RunStepDeps,
  ns: string,
  id: string,
  rootfs: Mount[],
  r: RunStepRequest,
): Promise<{ status: number; oomKilled: boolean }> {
  const tasks = deps.tasks(ns);
  await tasks.create(id, { rootfs });
  let attachment: Attachment | undefined;
  const stop = (): void => void tasks.kill(id, 9, { all: true }).catch(() => undefined);
  try {
    attachment = await Attachment.connect(deps.attachPath(ns, id)).catch(() => undefined);
    const closed = attachment ? new Promise<void>((resolve) => attachment!.once('close', resolve)) : Promise.resolve();
    if (r.output) {
      const output = r.output;
      attachment?.on('stdout', (chunk: Buffer) => output(1, chunk));
      attachment?.on('stderr', (chunk: Buffer) => output(2, chunk));
    }
    const exited = tasks.wait(id);
    exited.catch(() => undefined);
    // Not started: the delete below ends a created task by itself.
    if (r.signal?.aborted) return { status: -1, oomKilled: false };
    await tasks.start(id);
    r.signal?.addEventListener('abort', stop, { once: true });
    if (r.signal?.aborted) stop();
    const exit = await exited;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise((resolve) => (timer = setTimeout(resolve, DRAIN_MS)))]);
    clearTimeout(timer);
    return { status: exit.exitStatus, oomKilled: exit.exitStatus !== 0 && Boolean(deps.oomKilled?.(ns, id)) };
  } finally {
    r.signal?.removeEventListener('abort', stop);
    attachment?.close();
    await tasks.delete(id).catch(() => undefined);
  }
}
