/**
 * Where one engine instance keeps everything. `root` holds persistent data (databases, blobs,
 * snapshots), `state` runtime files (sockets, logs, pid files); two instances with different
 * root and state never touch each other.
 */
import { join, resolve } from 'node:path';

export const DEFAULT_ROOT = '/var/lib/ctl';
export const DEFAULT_STATE = '/run/ctl';

export type ServiceName = 'containerd-lite' | 'snapshotter' | 'netd';
export const SERVICE_NAMES: readonly ServiceName[] = ['snapshotter', 'netd', 'containerd-lite'];

export interface InstanceDirs {
  root: string;
  state: string;
}

export function instanceDirs(env: NodeJS.ProcessEnv = process.env, flags: Partial<InstanceDirs> = {}): InstanceDirs {
  return {
    root: resolve(flags.root ?? env.CTL_ROOT ?? DEFAULT_ROOT),
    state: resolve(flags.state ?? env.CTL_STATE ?? DEFAULT_STATE),
  };
}

export function serviceSocket(dirs: InstanceDirs, service: ServiceName): string {
  return join(dirs.state, `${service}.sock`);
}

/** A service's persistent directory (its database lives in `<dir>/meta`). */
export function serviceRoot(dirs: InstanceDirs, service: ServiceName): string {
  return join(dirs.root, service);
}

/**
 * The cgroup under which an instance puts its containers (`<parent>/<namespace>/<id>`), one per
 * root, so that two instances never share a container's cgroup: `/ctl` for the default root (the
 * paths existing setups have), else `/ctl-` and the first 12 hex digits of the sha256 of the root.
 */
export function cgroupParent(dirs: Pick<InstanceDirs, 'root'>): string {
  const root = resolve(dirs.root);
  if (root === DEFAULT_ROOT) return '/ctl';
  // loaded here: this module is on every CLI command's start-up path, and only services need it
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { createHash } = require('node:crypto') as typeof import('node:crypto');
  return `/ctl-${createHash('sha256').update(root).digest('hex').slice(0, 12)}`;
}

export function daemonLogFile(dirs: InstanceDirs): string {
  return join(dirs.state, 'daemon.log');
}
