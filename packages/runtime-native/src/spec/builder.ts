/**
 * Build an OCI spec from an image config plus Docker-like run options, with Docker's defaults
 * (capabilities, masked/read-only paths, mounts, device rules, seccomp profile).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SpecError } from '../errors';
import {
  ALL_CAPABILITIES,
  DEFAULT_CAPABILITIES,
  DEFAULT_MASKED_PATHS,
  DEFAULT_PATH,
  DEFAULT_READONLY_PATHS,
  defaultDeviceRules,
  defaultMounts,
} from './defaults';
import { allowAllDevices, hostDevices } from './devices';
import { loadDefaultProfile, resolveProfile } from './seccomp';
import { resolveUser } from './user';
import type { IdMapping, ImageConfig, Mount, Namespace, Resources, Rlimit, Seccomp, Spec, ThrottleDevice } from './types';
import { validateSpec } from './validate';

export const OCI_VERSION = '1.1.0';

export interface RunOptions {
  /** container id; the default cgroup path is /ctl/<id> */
  id: string;
  /** root filesystem: absolute, or relative to the bundle */
  rootfs?: string;
  /** where the bundle will be (to find a relative rootfs's /etc/passwd); default the current directory */
  bundleDir?: string;
  /** replaces the image's Cmd */
  cmd?: string[];
  /** replaces the image's Entrypoint */
  entrypoint?: string[];
  /** added to (and overriding) the image's Env */
  env?: string[];
  /** "name", "uid", "name:group", "uid:gid": names are looked up in the rootfs's /etc/passwd and /etc/group */
  user?: string;
  additionalGids?: number[];
  workdir?: string;
  hostname?: string;
  tty?: boolean;
  readonlyRootfs?: boolean;
  privileged?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  noNewPrivileges?: boolean;
  /** 'default' (the engine's profile), 'unconfined', or an OCI seccomp object */
  seccomp?: 'default' | 'unconfined' | Seccomp;
  /** bytes */
  memory?: number;
  memoryReservation?: number;
  /** memory + swap, bytes (-1: unlimited) */
  memorySwap?: number;
  cpuShares?: number;
  cpuQuota?: number;
  cpuPeriod?: number;
  /** fractional CPUs, e.g. 1.5 (sets quota/period) */
  cpus?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
  pidsLimit?: number;
  blkioWeight?: number;
  /**
   * docker's --device-read-bps/--device-write-bps (bytes per second) and
   * --device-read-iops/--device-write-iops, by block device major:minor
   */
  deviceReadBps?: ThrottleDevice[];
  deviceWriteBps?: ThrottleDevice[];
  deviceReadIops?: ThrottleDevice[];
  deviceWriteIops?: ThrottleDevice[];
  /** extra mounts, appended after the defaults */
  mounts?: Mount[];
  /** Docker-style binds: "src:dst[:ro]" */
  binds?: string[];
  /** 'none' (a new, empty network namespace; the default), 'host', or a netns path to join */
  network?: 'none' | 'host' | { path: string };
  pidMode?: 'private' | 'host';
  ipcMode?: 'private' | 'host';
  utsMode?: 'private' | 'host';
  cgroupns?: boolean;
  /** user namespace: root inside maps to an unprivileged host id */
  userns?: { uidMappings: IdMapping[]; gidMappings: IdMapping[] };
  sysctls?: Record<string, string>;
  ulimits?: Rlimit[];
  oomScoreAdj?: number;
  cgroupsPath?: string;
  annotations?: Record<string, string>;
  shmSize?: number;
  /** docker run --init: an init (tini) as PID 1 runs the command as its child, forwards signals and reaps zombies */
  init?: boolean;
  /** the host's init binary, bind-mounted read-only at /sbin/docker-init (default: Debian tini's static build) */
  initPath?: string;
}

/** A static build, because the image may have no libc (busybox); Debian's tini package ships it. */
export const DEFAULT_INIT_PATH = '/usr/bin/tini-static';
/** Where docker puts its init in the container; kept so that tools which look for it find it. */
export const INIT_DESTINATION = '/sbin/docker-init';

/** The init's bind mount (SpecError when the host has no init binary). */
function initMount(initPath: string): Mount {
  let ok = false;
  try {
    ok = fs.statSync(initPath).isFile();
  } catch {
    /* reported below */
  }
  if (!ok) throw new SpecError('init', `${initPath} is not installed (Debian's tini package provides it), so --init cannot be used`);
  return { destination: INIT_DESTINATION, type: 'bind', source: initPath, options: ['bind', 'ro', 'nosuid', 'nodev'] };
}

function mergeEnv(base: string[], extra: string[], defaults: Record<string, string>): string[] {
  const out = new Map<string, string>();
  for (const e of [...base, ...extra]) {
    const i = e.indexOf('=');
    out.set(i < 0 ? e : e.slice(0, i), e);
  }
  for (const [k, v] of Object.entries(defaults)) if (!out.has(k)) out.set(k, `${k}=${v}`);
  return [...out.values()];
}

/** The capabilities this host can grant: the bounding set of this process (a privileged container gets these). */
export function hostCapabilities(): string[] {
  try {
    const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (!m) return [...ALL_CAPABILITIES];
    const mask = BigInt(`0x${m[1]}`);
    return ALL_CAPABILITIES.filter((_, i) => (mask >> BigInt(i)) & 1n);
  } catch {
    return [...ALL_CAPABILITIES];
  }
}

function capabilitySet(o: RunOptions): string[] {
  if (o.privileged) return hostCapabilities();
  const norm = (c: string) => (c.toUpperCase().startsWith('CAP_') ? c.toUpperCase() : `CAP_${c.toUpperCase()}`);
  const drop = new Set((o.capDrop ?? []).map(norm));
  if (drop.has('CAP_ALL')) return (o.capAdd ?? []).map(norm);
  const add = (o.capAdd ?? []).map(norm);
  const all = add.includes('CAP_ALL') ? hostCapabilities() : [...DEFAULT_CAPABILITIES, ...add];
  return [...new Set(all)].filter((c) => !drop.has(c));
}

function bindMounts(binds: string[]): Mount[] {
  return binds.map((b, i) => {
    const parts = b.split(':');
    if (parts.length < 2 || !parts[0] || !parts[1]) throw new SpecError(`binds[${i}]`, `"${b}" is not src:dst[:ro]`);
    const opts = parts[2] ? parts[2].split(',') : [];
    return { destination: parts[1], type: 'bind', source: parts[0], options: ['rbind', ...opts] };
  });
}

function resources(o: RunOptions): Resources {
  const r: Resources = {};
  r.devices = o.privileged ? allowAllDevices() : defaultDeviceRules();
  if (o.memory !== undefined || o.memoryReservation !== undefined || o.memorySwap !== undefined) {
    r.memory = {};
    if (o.memory !== undefined) r.memory.limit = o.memory;
    if (o.memoryReservation !== undefined) r.memory.reservation = o.memoryReservation;
    if (o.memorySwap !== undefined) r.memory.swap = o.memorySwap;
  }
  if (o.cpuShares !== undefined || o.cpuQuota !== undefined || o.cpus !== undefined || o.cpusetCpus || o.cpusetMems) {
    r.cpu = {};
    if (o.cpuShares !== undefined) r.cpu.shares = o.cpuShares;
    const period = o.cpuPeriod ?? 100000;
    if (o.cpus !== undefined) {
      r.cpu.period = period;
      r.cpu.quota = Math.round(o.cpus * period);
    } else if (o.cpuQuota !== undefined) {
      r.cpu.period = period;
      r.cpu.quota = o.cpuQuota;
    }
    if (o.cpusetCpus) r.cpu.cpus = o.cpusetCpus;
    if (o.cpusetMems) r.cpu.mems = o.cpusetMems;
  }
  if (o.pidsLimit !== undefined) r.pids = { limit: o.pidsLimit };
  if (o.blkioWeight !== undefined) r.blockIO = { weight: o.blkioWeight };
  const throttles = [
    ['deviceReadBps', 'throttleReadBpsDevice'],
    ['deviceWriteBps', 'throttleWriteBpsDevice'],
    ['deviceReadIops', 'throttleReadIOPSDevice'],
    ['deviceWriteIops', 'throttleWriteIOPSDevice'],
  ] as const;
  for (const [option, field] of throttles) {
    const list = o[option];
    if (!list?.length) continue;
    list.forEach((d, i) => {
      for (const k of ['major', 'minor', 'rate'] as const) {
        if (!Number.isSafeInteger(d[k]) || d[k] < 0)
          throw new SpecError(`linux.resources.blockIO.${field}[${i}].${k}`, `must be a non-negative integer, not ${String(d[k])}`);
      }
    });
    r.blockIO = { ...r.blockIO, [field]: list.map((d) => ({ major: d.major, minor: d.minor, rate: d.rate })) };
  }
  return r;
}

export function buildSpec(image: ImageConfig, o: RunOptions): Spec {
  const entrypoint = o.entrypoint ?? image.Entrypoint ?? [];
  const cmd = o.cmd ?? (o.entrypoint ? [] : (image.Cmd ?? []));
  const command = [...entrypoint, ...cmd];
  if (command.length === 0) throw new SpecError('process.args', 'no command: the image has no Entrypoint/Cmd and none was given');
  const args = o.init ? [INIT_DESTINATION, '--', ...command] : command;
  const rootfs = o.rootfs ?? 'rootfs';
  const user = resolveUser(o.user ?? image.User, path.isAbsolute(rootfs) ? rootfs : path.join(o.bundleDir ?? '.', rootfs));
  const caps = capabilitySet(o);
  const namespaces: Namespace[] = [{ type: 'mount' }];
  if (o.pidMode !== 'host') namespaces.push({ type: 'pid' });
  if (o.ipcMode !== 'host') namespaces.push({ type: 'ipc' });
  if (o.utsMode !== 'host') namespaces.push({ type: 'uts' });
  if (o.network === undefined || o.network === 'none') namespaces.push({ type: 'network' });
  else if (typeof o.network === 'object') namespaces.push({ type: 'network', path: o.network.path });
  if (o.cgroupns) namespaces.push({ type: 'cgroup' });
  if (o.userns) namespaces.push({ type: 'user' });

  // The init's mount goes with the defaults: the user's binds and mounts stay last (the runner sorts those).
  const mounts = [
    ...defaultMounts(o.shmSize),
    ...(o.init ? [initMount(o.initPath ?? DEFAULT_INIT_PATH)] : []),
    ...bindMounts(o.binds ?? []),
    ...(o.mounts ?? []),
  ];
  if (o.privileged) {
    for (const m of mounts) if (m.type === 'sysfs' || m.type === 'cgroup') m.options = (m.options ?? []).filter((x) => x !== 'ro');
  }
  // a host /sys cannot be mounted read-write from inside a user namespace; keep it ro there
  const spec: Spec = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: o.tty ?? false,
      user: {
        uid: user.uid,
        gid: user.gid,
        ...(o.additionalGids || user.additionalGids.length ? { additionalGids: o.additionalGids ?? user.additionalGids } : {}),
      },
      args,
      env: mergeEnv(image.Env ?? [], o.env ?? [], { PATH: DEFAULT_PATH, HOME: user.home, ...(o.tty ? { TERM: 'xterm' } : {}) }),
      cwd: o.workdir ?? (image.WorkingDir || '/'),
      capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] },
      noNewPrivileges: o.noNewPrivileges ?? false,
      ...(o.ulimits ? { rlimits: o.ulimits } : {}),
      ...(o.oomScoreAdj !== undefined ? { oomScoreAdj: o.oomScoreAdj } : {}),
    },
    root: { path: rootfs, readonly: o.readonlyRootfs ?? false },
    hostname: o.utsMode === 'host' ? undefined : (o.hostname ?? o.id.slice(0, 12)),
    mounts,
    annotations: { ...(image.Labels ?? {}), ...(o.annotations ?? {}) },
    linux: {
      namespaces,
      cgroupsPath: o.cgroupsPath ?? `/ctl/${o.id}`,
      resources: resources(o),
      maskedPaths: o.privileged ? [] : [...DEFAULT_MASKED_PATHS],
      readonlyPaths: o.privileged ? [] : [...DEFAULT_READONLY_PATHS],
      ...(o.privileged ? { devices: hostDevices() } : {}),
      ...(o.sysctls ? { sysctl: o.sysctls } : {}),
      ...(o.userns ? { uidMappings: o.userns.uidMappings, gidMappings: o.userns.gidMappings } : {}),
    },
  };
  if (spec.hostname === undefined) delete spec.hostname;
  const sc = o.seccomp ?? 'default';
  if (!o.privileged && sc !== 'unconfined') {
    spec.linux!.seccomp = sc === 'default' ? resolveProfile(loadDefaultProfile(), caps) : sc;
  }
  validateSpec(spec);
  return spec;
}
