/**
 * The drivers one service serves, each wrapped in its MetaSnapshotter, and how a request's
 * `snapshotter` name picks one: the driver's own name; "" or "ctl" for the default; and
 * "ctl-<driver>", the names to give this service's drivers in containerd's proxy_plugins
 * (containerd's built-in "overlayfs" and "native" plugins already hold the plain names).
 */
import type { Database, Logger } from '@ctl/proto';
import { invalidArgument } from '@ctl/proto/errors';
import { ensureDir } from '@ctl/proto/fsutil';
import { join } from 'node:path';
import type { SnapshotterConfig } from './config';
import './drivers';
import { MetaSnapshotter } from './metadata';
import { driverRegistration, registeredDrivers } from './registry';

/** The driver a request's snapshotter name means: "" and "ctl" the default, "ctl-<driver>" the driver. */
export function driverName(requested: string, defaultName: string): string {
  if (requested === '' || requested === 'ctl') return defaultName;
  return requested.startsWith('ctl-') ? requested.slice('ctl-'.length) : requested;
}

export class Snapshotters {
  constructor(
    private readonly byName: Map<string, MetaSnapshotter>,
    readonly defaultName: string,
  ) {}

  names(): string[] {
    return [...this.byName.keys()];
  }

  /** The loaded driver a request's snapshotter name reaches (see driverName), by its own name. */
  resolve(requested: string): string {
    const name = this.byName.has(requested) ? requested : driverName(requested, this.defaultName);
    if (!this.byName.has(name)) throw invalidArgument(`snapshotter "${requested}" not loaded (loaded: ${this.names().join(', ')})`);
    return name;
  }

  get(requested: string): MetaSnapshotter {
    return this.byName.get(this.resolve(requested))!;
  }

  async close(): Promise<void> {
    for (const s of this.byName.values()) {
      await s.settled();
      await s.driver.close?.();
    }
  }
}

export async function openSnapshotters(
  serviceRoot: string,
  db: Database,
  config: SnapshotterConfig,
  logger: Logger,
): Promise<Snapshotters> {
  const explicit = config.drivers !== undefined;
  const wanted = config.drivers ?? registeredDrivers();
  const byName = new Map<string, MetaSnapshotter>();
  for (const name of wanted) {
    const registration = driverRegistration(name);
    if (!registration) throw invalidArgument(`unknown snapshotter driver "${name}" (known: ${registeredDrivers().join(', ')})`);
    const root = config.roots[name] ?? join(serviceRoot, name);
    ensureDir(root, 0o700);
    const why = await registration.unsupported({ root });
    if (why) {
      if (explicit) throw invalidArgument(`snapshotter driver "${name}" cannot run here: ${why}`);
      logger.info('driver skipped', { driver: name, reason: why });
      continue;
    }
    byName.set(name, await MetaSnapshotter.open(db, await registration.open({ root })));
    logger.debug('driver loaded', { driver: name, root });
  }
  if (!byName.has(config.default)) {
    throw invalidArgument(`default snapshotter "${config.default}" is not loaded (loaded: ${[...byName.keys()].join(', ') || 'none'})`);
  }
  return new Snapshotters(byName, config.default);
}
