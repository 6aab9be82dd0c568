/**
 * ctl.run.v1's ContainerConfig (config.proto) as runtime-native's RunOptions, from which
 * buildSpec makes the OCI spec: the one place where the contract becomes a container's shape.
 * Front ends send parsed values (bytes, structured mounts); this checks what the spec builder
 * and the kernel would take badly or silently, and refuses it with InvalidArgument naming the
 * field (`config.resources.memory_bytes: …`). What only the OCI spec can judge (capability
 * names, rlimit types, memory minimums) buildSpec's validation reports with the spec's field.
 */
import { invalidArgument } from '@ctl/proto/errors';
import type { ContainerConfig__Output } from '@ctl/proto/generated/ctl/run/v1/ContainerConfig';
import type { Mount__Output } from '@ctl/proto/generated/ctl/run/v1/Mount';
import type { Namespaces__Output } from '@ctl/proto/generated/ctl/run/v1/Namespaces';
import type { Process__Output } from '@ctl/proto/generated/ctl/run/v1/Process';
import type { Resources__Output } from '@ctl/proto/generated/ctl/run/v1/Resources';
import type { Security__Output } from '@ctl/proto/generated/ctl/run/v1/Security';
import type { ThrottleDevice__Output } from '@ctl/proto/generated/ctl/run/v1/ThrottleDevice';
import type { Lifecycle__Output } from '@ctl/proto/generated/ctl/run/v1/Lifecycle';
import type { RunOptions } from '@ctl/runtime-native';
import { SIZE_LIMIT_LABEL } from '@ctl/snapshotter/client';
import { constants } from 'node:os';
import { posix } from 'node:path';
import { RestartLabel, parseRestartPolicy, restartLabels } from '../restart/policy';
import { validateVolumeName } from '../volumes/store';

/** Where `ctl stop` finds the container's stop signal and timeout. */
export const StopLabel = { signal: 'ctl.stop-signal', timeout: 'ctl.stop-timeout' } as const;

/** A volume a container mounts: made when missing, bound from its _data directory. */
export interface VolumeOption {
  /** "" for a new anonymous volume. */
  name: string;
  destination: string;
  readonly?: boolean;
  /** Do not copy the image's content at destination into a new (empty) volume. */
  nocopy?: boolean;
}

/** What a ContainerConfig makes: the spec builder's options (less the id), the volumes to make, the record's labels. */
export interface Converted {
  options: Omit<RunOptions, 'id'>;
  volumes: VolumeOption[];
  labels: Record<string, string>;
  /** Labels of the container's own (active) snapshot, given at Prepare: its size limit. */
  snapshotLabels: Record<string, string>;
}

/** The snapshot's labels a ContainerConfig asks for (resources.disk_bytes: the size limit). */
function snapshotLabels(r: Resources__Output | null): Record<string, string> {
  if (!r || !present(r.diskBytes)) return {};
  return { [SIZE_LIMIT_LABEL]: String(integer(r.diskBytes, 'resources.disk_bytes', 1)) };
}

const bad = (field: string, message: string): Error => invalidArgument(`config.${field}: ${message}`);

/** A path in the container, normalised without a trailing slash. */
export const normalPath = (p: string): string => posix.normalize(p).replace(/(.)\/+$/, '$1');

function integer(value: number, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(value) || value < min || value > max)
    throw bad(field, `${value} is not an integer from ${min}${max === Number.MAX_SAFE_INTEGER ? '' : ` to ${max}`}`);
  return value;
}

const present = <T>(value: T | null | undefined): value is T => value !== undefined && value !== null;

function processOptions(p: Process__Output): Partial<RunOptions> {
  const o: Partial<RunOptions> = {};
  if (p.cmd.length) o.cmd = p.cmd;
  if (p.entrypoint) o.entrypoint = p.entrypoint.values;
  p.env.forEach((e, i) => {
    if (!e.includes('=')) throw bad(`process.env[${i}]`, `"${e}" is not NAME=value`);
  });
  if (p.env.length) o.env = p.env;
  if (p.user) o.user = p.user;
  if (p.additionalGids.length) o.additionalGids = p.additionalGids;
  if (p.workdir) {
    if (!p.workdir.startsWith('/')) throw bad('process.workdir', `"${p.workdir}" is not an absolute path`);
    o.workdir = p.workdir;
  }
  if (p.tty) o.tty = true;
  if (p.rlimits.length) o.ulimits = p.rlimits.map((r) => ({ type: r.type, soft: r.soft, hard: r.hard }));
  if (present(p.oomScoreAdj)) o.oomScoreAdj = integer(p.oomScoreAdj, 'process.oom_score_adj', -1000, 1000);
  return o;
}

function throttles(list: ThrottleDevice__Output[], field: string): RunOptions['deviceReadBps'] {
  if (!list.length) return undefined;
  return list.map((d, i) => ({
    major: integer(d.major, `resources.${field}[${i}].major`, 0),
    minor: integer(d.minor, `resources.${field}[${i}].minor`, 0),
    rate: integer(d.rate, `resources.${field}[${i}].rate`, 0),
  }));
}

function resourceOptions(r: Resources__Output): Partial<RunOptions> {
  const o: Partial<RunOptions> = {};
  const bytes = (value: number | undefined, field: string, min = 0): number | undefined =>
    present(value) ? integer(value, `resources.${field}`, min) : undefined;
  o.memory = bytes(r.memoryBytes, 'memory_bytes');
  o.memoryReservation = bytes(r.memoryReservationBytes, 'memory_reservation_bytes');
  o.memorySwap = bytes(r.memorySwapBytes, 'memory_swap_bytes', -1);
  o.cpuShares = bytes(r.cpuShares, 'cpu_shares');
  if (present(r.cpus)) {
    if (!Number.isFinite(r.cpus) || r.cpus < 0) throw bad('resources.cpus', `${r.cpus} is not a number of CPUs`);
    o.cpus = r.cpus;
  }
  o.cpuQuota = bytes(r.cpuQuota, 'cpu_quota', -1);
  o.cpuPeriod = bytes(r.cpuPeriod, 'cpu_period');
  if (r.cpusetCpus) o.cpusetCpus = r.cpusetCpus;
  if (r.cpusetMems) o.cpusetMems = r.cpusetMems;
  o.pidsLimit = bytes(r.pidsLimit, 'pids_limit', -1);
  o.blkioWeight = bytes(r.blkioWeight, 'blkio_weight');
  o.deviceReadBps = throttles(r.deviceReadBps, 'device_read_bps');
  o.deviceWriteBps = throttles(r.deviceWriteBps, 'device_write_bps');
  o.deviceReadIops = throttles(r.deviceReadIops, 'device_read_iops');
  o.deviceWriteIops = throttles(r.deviceWriteIops, 'device_write_iops');
  return o;
}

const PROPAGATION = new Set(['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave']);

type SpecMount = NonNullable<RunOptions['mounts']>[number];

/** One mount: an OCI mount, or a volume for the runner to make and bind. */
function mountOption(m: Mount__Output, i: number): { mount: SpecMount } | { volume: VolumeOption } {
  const field = `mounts[${i}]`;
  if (!m.destination.startsWith('/')) throw bad(`${field}.destination`, `"${m.destination}" is not an absolute path`);
  const destination = normalPath(m.destination);
  if (destination === '/') throw bad(`${field}.destination`, 'cannot mount over /');
  // Unset writes neither, as the mount had no mode.
  const mode = present(m.readonly) ? [m.readonly ? 'ro' : 'rw'] : [];
  if (m.bind) {
    const { source, nonrecursive, propagation } = m.bind;
    if (!source.startsWith('/')) throw bad(`${field}.bind.source`, `"${source}" is not an absolute path`);
    if (propagation && !PROPAGATION.has(propagation))
      throw bad(`${field}.bind.propagation`, `"${propagation}" is not one of ${[...PROPAGATION].join(', ')}`);
    const options = [nonrecursive ? 'bind' : 'rbind', ...mode, ...(propagation ? [propagation] : []), ...m.options];
    return { mount: { destination, type: 'bind', source, options } };
  }
  if (m.volume) {
    if (m.volume.name) {
      try {
        validateVolumeName(m.volume.name);
      } catch (err) {
        throw bad(`${field}.volume.name`, (err as Error).message);
      }
    }
    if (m.options.length) throw bad(`${field}.options`, 'a volume takes no mount options');
    return { volume: { name: m.volume.name, destination, readonly: Boolean(m.readonly), nocopy: m.volume.nocopy } };
  }
  if (m.tmpfs) {
    const { sizeBytes, mode: bits } = m.tmpfs;
    const options = ['nosuid', 'nodev', 'noexec'];
    if (present(sizeBytes)) options.push(`size=${integer(sizeBytes, `${field}.tmpfs.size_bytes`, 0)}`);
    if (present(bits)) options.push(`mode=${integer(bits, `${field}.tmpfs.mode`, 0, 0o7777).toString(8)}`);
    options.push(...m.options, ...(m.readonly ? ['ro'] : []));
    return { mount: { destination, type: 'tmpfs', source: 'tmpfs', options } };
  }
  throw bad(field, 'one of bind, volume or tmpfs is needed');
}

function securityOptions(s: Security__Output): Partial<RunOptions> {
  const o: Partial<RunOptions> = {};
  if (s.privileged) o.privileged = true;
  if (s.capAdd.length) o.capAdd = s.capAdd;
  if (s.capDrop.length) o.capDrop = s.capDrop;
  if (s.noNewPrivileges) o.noNewPrivileges = true;
  if (s.readonlyRootfs) o.readonlyRootfs = true;
  const seccomp = s.seccomp;
  if (seccomp?.mode === 'UNCONFINED') o.seccomp = 'unconfined';
  else if (seccomp?.mode === 'PROFILE') {
    let profile: unknown;
    try {
      profile = JSON.parse(seccomp.profileJson);
    } catch (err) {
      throw bad('security.seccomp.profile_json', `not JSON: ${(err as Error).message}`);
    }
    if (!profile || typeof profile !== 'object' || Array.isArray(profile))
      throw bad('security.seccomp.profile_json', 'must be an OCI seccomp object ({"defaultAction": …, "syscalls": […]})');
    o.seccomp = profile as Exclude<RunOptions['seccomp'], string | undefined>;
  } else if (seccomp?.profileJson) throw bad('security.seccomp.profile_json', 'is for mode PROFILE');
  return o;
}

function namespaceOptions(n: Namespaces__Output): Partial<RunOptions> {
  const o: Partial<RunOptions> = {};
  if (n.network === 'HOST') o.network = 'host';
  else if (n.network === 'PATH') {
    if (!n.networkPath.startsWith('/')) throw bad('namespaces.network_path', `"${n.networkPath}" is not an absolute path`);
    o.network = { path: n.networkPath };
  } else o.network = 'none';
  if (n.hostPid) o.pidMode = 'host';
  if (n.hostIpc) o.ipcMode = 'host';
  if (n.hostUts) o.utsMode = 'host';
  if (n.cgroup) o.cgroupns = true;
  const ids = (list: Namespaces__Output['uidMappings']) =>
    list.map((m) => ({ containerID: m.containerId, hostID: m.hostId, size: m.size }));
  if (n.uidMappings.length) o.userns = { uidMappings: ids(n.uidMappings), gidMappings: ids(n.gidMappings) };
  else if (n.gidMappings.length) throw bad('namespaces.uid_mappings', 'needed with gid_mappings');
  return o;
}

/** The labels `ctl stop` and the restart supervisor read. */
function lifecycleLabels(l: Lifecycle__Output): Record<string, string> {
  const labels: Record<string, string> = {};
  if (l.stopSignal) {
    const name = l.stopSignal.toUpperCase().replace(/^(SIG)?/, 'SIG');
    if (!/^\d+$/.test(l.stopSignal) && !(name in constants.signals)) throw bad('lifecycle.stop_signal', `unknown signal "${l.stopSignal}"`);
    labels[StopLabel.signal] = l.stopSignal;
  }
  if (present(l.stopTimeout)) labels[StopLabel.timeout] = String(integer(l.stopTimeout, 'lifecycle.stop_timeout', -1));
  const policy = l.restartPolicy;
  if (policy) {
    const count = policy.maximumRetryCount ? `:${policy.maximumRetryCount}` : '';
    try {
      Object.assign(labels, restartLabels(parseRestartPolicy(`${policy.name || 'no'}${count}`)));
    } catch (err) {
      throw bad('lifecycle.restart_policy', (err as Error).message);
    }
  }
  if (l.autoRemove) {
    if (labels[RestartLabel.policy] && labels[RestartLabel.policy] !== 'no')
      throw bad('lifecycle.auto_remove', 'conflicts with a restart policy');
    labels[RestartLabel.autoRemove] = '1';
  }
  return labels;
}

/** The record's labels: the caller's, less the supervisor's own, under the lifecycle's. */
export function recordLabels(labels: Record<string, string>, lifecycle: Record<string, string>): Record<string, string> {
  for (const key of Object.values(RestartLabel))
    if (key in labels) throw invalidArgument(`labels: "${key}" is the restart supervisor's (use config.lifecycle.restart_policy)`);
  return { ...labels, ...lifecycle };
}

/** Converts a ContainerConfig (unset: the image's defaults); InvalidArgument names a bad field. */
export function fromConfig(config: ContainerConfig__Output | null | undefined): Converted {
  if (!config) return { options: {}, volumes: [], labels: {}, snapshotLabels: {} };
  const mounts: SpecMount[] = [];
  const volumes: VolumeOption[] = [];
  config.mounts.forEach((m, i) => {
    const made = mountOption(m, i);
    if ('mount' in made) mounts.push(made.mount);
    else volumes.push(made.volume);
  });
  const options: Omit<RunOptions, 'id'> = {
    ...(config.process ? processOptions(config.process) : {}),
    ...(config.resources ? resourceOptions(config.resources) : {}),
    ...(config.security ? securityOptions(config.security) : {}),
    ...(config.namespaces ? namespaceOptions(config.namespaces) : {}),
  };
  if (mounts.length) options.mounts = mounts;
  if (config.hostname) options.hostname = config.hostname;
  if (config.init) options.init = true;
  if (present(config.shmSizeBytes)) options.shmSize = integer(config.shmSizeBytes, 'shm_size_bytes', 0);
  if (Object.keys(config.sysctls).length) options.sysctls = config.sysctls;
  if (Object.keys(config.annotations).length) options.annotations = config.annotations;
  // Unset fields stay out, so buildSpec's "given?" checks see what was asked.
  for (const key of Object.keys(options) as (keyof typeof options)[]) if (options[key] === undefined) delete options[key];
  const labels = config.lifecycle ? lifecycleLabels(config.lifecycle) : {};
  return { options, volumes, labels, snapshotLabels: snapshotLabels(config.resources) };
}
