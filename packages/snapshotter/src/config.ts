/**
 * Which drivers the service loads, which one answers requests that name none, and which driver
 * other names reach. From <root>/snapshotter/config.json when present:
 *   { "drivers": ["overlayfs", "native", "btrfs"], "default": "overlayfs",
 *     "roots": { "btrfs": "/mnt/btrfs/ctl" }, "names": { "mysnap": "btrfs" } }
 * and the environment, which wins: CTL_SNAPSHOTTER_DRIVERS=a,b, CTL_SNAPSHOTTER_DEFAULT=name,
 * CTL_SNAPSHOTTER_NAMES=mysnap=btrfs,other=native (ctl-snapshotter's --proxy-name sets it).
 * Without a driver list, every registered driver is tried and those that cannot run on this
 * host are skipped; a driver listed by name must run.
 */
import { invalidArgument } from '@ctl/proto/errors';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface SnapshotterConfig {
  drivers?: string[];
  default: string;
  /** Per-driver root directories, instead of <root>/snapshotter/<driver>. */
  roots: Record<string, string>;
  /** Request names (containerd's proxy_plugins names) mapped to drivers. */
  names: Record<string, string>;
}

const list = (value: string): string[] =>
  value
    .split(',')
    .map((d) => d.trim())
    .filter(Boolean);

/** NAME=DRIVER pairs, as --proxy-name and CTL_SNAPSHOTTER_NAMES give them. */
export function parseNames(pairs: string[]): Record<string, string> {
  return Object.fromEntries(
    pairs.map((pair) => {
      const [name, driver, ...rest] = pair.split('=').map((s) => s.trim());
      if (!name || !driver || rest.length) throw invalidArgument(`snapshotter name mapping "${pair}": want NAME=DRIVER`);
      return [name, driver];
    }),
  );
}

export function readConfig(serviceRoot: string, env: NodeJS.ProcessEnv = process.env): SnapshotterConfig {
  const file = join(serviceRoot, 'config.json');
  let fromFile: Partial<SnapshotterConfig> = {};
  if (existsSync(file)) {
    try {
      fromFile = JSON.parse(readFileSync(file, 'utf8')) as Partial<SnapshotterConfig>;
    } catch (err) {
      throw invalidArgument(`snapshotter config ${file}: ${(err as Error).message}`);
    }
  }
  return {
    drivers: env.CTL_SNAPSHOTTER_DRIVERS ? list(env.CTL_SNAPSHOTTER_DRIVERS) : fromFile.drivers,
    default: env.CTL_SNAPSHOTTER_DEFAULT || fromFile.default || 'overlayfs',
    roots: fromFile.roots ?? {},
    names: { ...fromFile.names, ...parseNames(list(env.CTL_SNAPSHOTTER_NAMES ?? '')) },
  };
}
