/**
 * Spec validation in TypeScript, before a bundle is written: every problem names its field.
 * The C runtime validates again (it also serves bundles written by others, e.g. containerd).
 */
import { SpecError } from '../errors';
import { ALL_CAPABILITIES } from './defaults';
import type { IdMapping, Spec } from './types';

const NAMESPACE_TYPES = new Set(['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time']);
const RLIMITS = new Set([
  'RLIMIT_CPU',
  'RLIMIT_FSIZE',
  'RLIMIT_DATA',
  'RLIMIT_STACK',
  'RLIMIT_CORE',
  'RLIMIT_RSS',
  'RLIMIT_NPROC',
  'RLIMIT_NOFILE',
  'RLIMIT_MEMLOCK',
  'RLIMIT_AS',
  'RLIMIT_LOCKS',
  'RLIMIT_SIGPENDING',
  'RLIMIT_MSGQUEUE',
  'RLIMIT_NICE',
  'RLIMIT_RTPRIO',
  'RLIMIT_RTTIME',
]);
const SECCOMP_ACTIONS = new Set([
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_LOG',
]);
const CAPS = new Set(ALL_CAPABILITIES);

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
const isStrArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

function checkMappings(maps: IdMapping[] | undefined, field: string): void {
  if (maps === undefined) return;
  if (!Array.isArray(maps)) throw new SpecError(field, 'must be an array');
  maps.forEach((m, i) => {
    const f = `${field}[${i}]`;
    if (!m || !isInt(m.containerID) || !isInt(m.hostID) || !isInt(m.size))
      throw new SpecError(f, 'needs integer containerID, hostID and size');
    if (m.containerID < 0 || m.hostID < 0 || m.size <= 0 || m.containerID + m.size > 2 ** 32 || m.hostID + m.size > 2 ** 32)
      throw new SpecError(f, `invalid mapping containerID=${m.containerID} hostID=${m.hostID} size=${m.size}`);
  });
}

/** Throws SpecError for the first problem found. */
export function validateSpec(spec: Spec): void {
  if (!spec || typeof spec !== 'object') throw new SpecError('(root)', 'must be an object');
  if (typeof spec.ociVersion !== 'string') throw new SpecError('ociVersion', 'required string is missing');
  if (!spec.ociVersion.startsWith('1.')) throw new SpecError('ociVersion', `unsupported version "${spec.ociVersion}" (want 1.x)`);
  if (!spec.root || typeof spec.root.path !== 'string' || spec.root.path === '')
    throw new SpecError('root.path', 'required string is missing');
  const p = spec.process;
  if (!p) throw new SpecError('process', 'required field is missing');
  if (!isStrArray(p.args) || p.args.length === 0) throw new SpecError('process.args', 'must be a non-empty array of strings');
  if (p.env !== undefined && !isStrArray(p.env)) throw new SpecError('process.env', 'must be an array of strings');
  p.env?.forEach((e, i) => {
    if (!e.includes('=')) throw new SpecError(`process.env[${i}]`, `"${e}" is not KEY=VALUE`);
  });
  if (typeof p.cwd !== 'string' || !p.cwd.startsWith('/')) throw new SpecError('process.cwd', 'must be an absolute path');
  if (!p.user || !isInt(p.user.uid) || !isInt(p.user.gid) || p.user.uid < 0 || p.user.gid < 0)
    throw new SpecError('process.user', 'needs non-negative integer uid and gid');
  p.user.additionalGids?.forEach((g, i) => {
    if (!isInt(g) || g < 0) throw new SpecError(`process.user.additionalGids[${i}]`, 'must be a non-negative integer');
  });
  for (const set of ['bounding', 'effective', 'inheritable', 'permitted', 'ambient'] as const) {
    p.capabilities?.[set]?.forEach((c, i) => {
      if (!CAPS.has(c)) throw new SpecError(`process.capabilities.${set}[${i}]`, `unknown capability "${c}"`);
    });
  }
  p.rlimits?.forEach((r, i) => {
    const f = `process.rlimits[${i}]`;
    if (!RLIMITS.has(r.type)) throw new SpecError(`${f}.type`, `unknown rlimit "${r.type}"`);
    if (!isInt(r.soft) || !isInt(r.hard)) throw new SpecError(f, 'soft and hard must be integers');
    if (r.soft > r.hard) throw new SpecError(f, `soft limit ${r.soft} is above hard limit ${r.hard}`);
  });
  spec.mounts?.forEach((m, i) => {
    const f = `mounts[${i}]`;
    if (typeof m.destination !== 'string' || !m.destination.startsWith('/'))
      throw new SpecError(`${f}.destination`, 'must be an absolute path');
    if (m.options !== undefined && !isStrArray(m.options)) throw new SpecError(`${f}.options`, 'must be an array of strings');
    const bind = m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
    if (bind && !m.source) throw new SpecError(`${f}.source`, `a bind mount of ${m.destination} needs a source`);
    if (!bind && !m.type) throw new SpecError(`${f}.type`, `required for non-bind mount of ${m.destination}`);
  });
  for (const [kind, hooks] of Object.entries(spec.hooks ?? {})) {
    (hooks as { path: unknown; timeout?: unknown }[]).forEach((h, i) => {
      if (typeof h.path !== 'string' || !h.path.startsWith('/'))
        throw new SpecError(`hooks.${kind}[${i}].path`, 'must be an absolute path');
      if (h.timeout !== undefined && (!isInt(h.timeout) || h.timeout <= 0))
        throw new SpecError(`hooks.${kind}[${i}].timeout`, 'must be a positive integer');
    });
  }
  const l = spec.linux;
  if (!l) return;
  const seen = new Set<string>();
  l.namespaces?.forEach((ns, i) => {
    const f = `linux.namespaces[${i}].type`;
    if (!NAMESPACE_TYPES.has(ns.type)) throw new SpecError(f, `unknown namespace type "${String(ns.type)}"`);
    if (seen.has(ns.type)) throw new SpecError(f, `namespace "${ns.type}" listed twice`);
    seen.add(ns.type);
    if (ns.path !== undefined && typeof ns.path !== 'string') throw new SpecError(`linux.namespaces[${i}].path`, 'must be a string');
  });
  if (!seen.has('mount')) throw new SpecError('linux.namespaces', 'a mount namespace is required');
  checkMappings(l.uidMappings, 'linux.uidMappings');
  checkMappings(l.gidMappings, 'linux.gidMappings');
  const newUser = l.namespaces?.some((ns) => ns.type === 'user' && !ns.path);
  if ((l.uidMappings?.length || l.gidMappings?.length) && !seen.has('user'))
    throw new SpecError('linux.uidMappings', 'mappings need a user namespace in linux.namespaces');
  if (newUser && (!l.uidMappings?.length || !l.gidMappings?.length))
    throw new SpecError('linux.uidMappings', 'a new user namespace needs uidMappings and gidMappings');
  if (newUser && !l.uidMappings?.some((m) => m.containerID === 0))
    throw new SpecError('linux.uidMappings', 'container uid 0 must be mapped');
  if (spec.hostname && !seen.has('uts')) throw new SpecError('hostname', 'setting the hostname needs a uts namespace');
  if (l.cgroupsPath !== undefined && (typeof l.cgroupsPath !== 'string' || l.cgroupsPath.includes('..')))
    throw new SpecError('linux.cgroupsPath', 'must be a path without ".."');
  for (const [k, v] of Object.entries(l.sysctl ?? {})) {
    if (typeof v !== 'string') throw new SpecError(`linux.sysctl.${k}`, 'must be a string');
  }
  const mem = l.resources?.memory;
  if (mem?.limit !== undefined && mem.limit !== -1 && mem.limit < 4 * 1024 * 1024 && mem.limit > 0)
    throw new SpecError('linux.resources.memory.limit', `${mem.limit} bytes is below the 4 MiB minimum`);
  if (mem?.swap !== undefined && mem.limit !== undefined && mem.swap > 0 && mem.swap < mem.limit)
    throw new SpecError('linux.resources.memory.swap', 'memory+swap must not be below the memory limit');
  const pids = l.resources?.pids;
  if (pids && !isInt(pids.limit)) throw new SpecError('linux.resources.pids.limit', 'must be an integer');
  const sc = l.seccomp;
  if (sc) {
    if (!SECCOMP_ACTIONS.has(sc.defaultAction)) throw new SpecError('linux.seccomp.defaultAction', `unknown action "${sc.defaultAction}"`);
    sc.syscalls?.forEach((r, i) => {
      if (!SECCOMP_ACTIONS.has(r.action)) throw new SpecError(`linux.seccomp.syscalls[${i}].action`, `unknown action "${r.action}"`);
      if (!isStrArray(r.names) || r.names.length === 0)
        throw new SpecError(`linux.seccomp.syscalls[${i}].names`, 'must be a non-empty array');
    });
  }
}
