/**
 * The drivers one service serves, each wrapped in its MetaSnapshotter, and which driver a
 * request's `snapshotter` name reaches (resolve):
 * - a loaded driver's own name: that driver;
 * - "" and "ctl": the default driver;
 * - a name the config maps (config.json "names", CTL_SNAPSHOTTER_NAMES, --proxy-name): its driver;
 * - "ctl-<driver>" or a known driver's plain name: that driver, InvalidArgument when not loaded;
 * - any other name: the default driver. containerd sends the name its proxy_plugins entry has,
 *   and the user picks that name.
 * Clients that record a driver (containerd-lite's GC) record what resolve answers, so one name
 * keeps reaching one driver for as long as the config stays.
 */
import type { Database, Logger } from '@ctl/proto';
import { invalidArgument } from '@ctl/proto/errors';
import { ensureDir } from '@ctl/proto/fsutil';
import { join } from 'node:path';
import type { SnapshotterConfig } from './config';
import './drivers';
import { MetaSnapshotter } from './metadata';
import type { Leftover } from './snapshotter';
import { driverRegistration, registeredDrivers } from './registry';

const RESERVED_PREFIX = 'ctl-';

export class Snapshotters {
  constructor(
    private readonly byName: Map<string, MetaSnapshotter>,
    readonly defaultName: string,
    /** Request names mapped to loaded drivers (checked by openSnapshotters). */
    private readonly mapped: ReadonlyMap<string, string> = new Map(),
  ) {}

  names(): string[] {
    return [...this.byName.keys()];
  }

  /** The loaded driver a request's snapshotter name reaches (see above), by its own name. */
  resolve(requested: string): string {
    if (this.byName.has(requested)) return requested;
    if (requested === '' || requested === 'ctl') return this.defaultName;
    const mapped = this.mapped.get(requested);
    if (mapped !== undefined) return mapped;
    const named = requested.startsWith(RESERVED_PREFIX) ? requested.slice(RESERVED_PREFIX.length) : requested;
    if (requested !== named || driverRegistration(named)) {
      if (this.byName.has(named)) return named;
      throw invalidArgument(`snapshotter "${requested}" not loaded (loaded: ${this.names().join(', ')})`);
    }
    return this.defaultName;
  }

  get(requested: string): MetaSnapshotter {
    return this.byName.get(this.resolve(requested))!;
  }

  /** Every loaded driver's leftovers (MetaSnapshotter.leftovers), with the driver's name. */
  async leftovers(): Promise<(Leftover & { driver: string })[]> {
    const found: (Leftover & { driver: string })[] = [];
    for (const [driver, s] of this.byName) for (const l of await s.leftovers()) found.push({ ...l, driver });
    return found;
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
  for (const [name, driver] of Object.entries(config.names)) {
    if (name === 'ctl' || name.startsWith(RESERVED_PREFIX) || driverRegistration(name)) {
      throw invalidArgument(`snapshotter name "${name}" cannot be mapped: "ctl", "ctl-<driver>" and driver names are taken`);
    }
    if (!byName.has(driver)) {
      throw invalidArgument(
        `snapshotter name "${name}" maps to driver "${driver}", which is not loaded (loaded: ${[...byName.keys()].join(', ')})`,
      );
    }
  }
  return new Snapshotters(byName, config.default, new Map(Object.entries(config.names)));
}
