/**
 * Which drivers the service loads and which one answers requests that name none.
 * From <root>/snapshotter/config.json when present:
 *   { "drivers": ["overlayfs", "native", "btrfs"], "default": "overlayfs",
 *     "roots": { "btrfs": "/mnt/btrfs/ctl" } }
 * and the environment (CTL_SNAPSHOTTER_DRIVERS=a,b, CTL_SNAPSHOTTER_DEFAULT=name), which wins.
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
  const drivers = env.CTL_SNAPSHOTTER_DRIVERS
    ? env.CTL_SNAPSHOTTER_DRIVERS.split(',')
        .map((d) => d.trim())
        .filter(Boolean)
    : fromFile.drivers;
  return {
    drivers,
    default: env.CTL_SNAPSHOTTER_DEFAULT || fromFile.default || 'overlayfs',
    roots: fromFile.roots ?? {},
  };
}
