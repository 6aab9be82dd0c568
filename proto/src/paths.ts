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

export function daemonLogFile(dirs: InstanceDirs): string {
  return join(dirs.state, 'daemon.log');
}
