/**
 * A driver lays snapshots out on disk; the snapshotter around it (metadata.ts) keeps their
 * records, kinds, names and parent chains. A driver sees only stable ids (short decimal
 * strings the store allocates) and the ids of the parent chain, nearest first.
 *
 * Each driver lives in its own folder under drivers/ with its registration apart from the
 * library (registry.ts).
 */
import type { Leftover, Mount, Usage } from '../snapshotter';

export interface DriverSnapshot {
  id: string;
  kind: 'ACTIVE' | 'VIEW' | 'COMMITTED';
  /** Parent chain ids, nearest first. */
  parents: string[];
}

export interface CreateOptions {
  /** Bytes the writable layer may hold; only for ACTIVE snapshots. */
  sizeLimit?: number;
}

export interface Driver {
  /** The name clients select it by (the request's `snapshotter` field). */
  readonly name: string;
  /** Makes the on-disk part of a new ACTIVE or VIEW snapshot. Must be idempotent for one id. */
  create(snapshot: DriverSnapshot, options: CreateOptions): Promise<void>;
  /** The mounts that show an ACTIVE (writable) or VIEW (read-only) snapshot. */
  mounts(snapshot: DriverSnapshot): Mount[];
  /** Makes an ACTIVE snapshot's layer the read-only content of a committed one (same id). */
  commit(snapshot: DriverSnapshot): Promise<void>;
  /** Deletes the on-disk part; succeeds when it is already gone. */
  remove(id: string): Promise<void>;
  /** Disk use of the snapshot's own layer. */
  usage(snapshot: DriverSnapshot): Promise<Usage>;
  /** The ids that have something on disk, for cleanup of what no record points to. */
  onDisk(): Promise<string[]>;
  /**
   * Brings the snapshots the records name back to a usable state when the service opens, e.g.
   * mounts again size-limited layers that a reboot unmounted.
   */
  restore?(ids: string[]): Promise<void>;
  /**
   * What the host holds under the driver's root (mounts, loop devices on its files) that none
   * of the recorded snapshots `ids` accounts for; for ctl system check, changes nothing.
   */
  leftovers?(ids: ReadonlySet<string>): Promise<Leftover[]>;
  /** Deletes now what removed snapshots left for deferred deletion, if the driver defers. */
  collect?(): Promise<void>;
  /** Releases what the driver holds (mounts of its own such as size-limited layers stay). */
  close?(): Promise<void>;
}

export interface DriverContext {
  /** The driver's own directory: <root>/snapshotter/<driver name>. */
  root: string;
}

export interface DriverRegistration {
  name: string;
  /**
   * Why this driver cannot run on this host (its root's file system, missing tools), or
   * undefined when it can. A driver that cannot run is skipped unless it was asked for by name.
   */
  unsupported(context: DriverContext): Promise<string | undefined>;
  open(context: DriverContext): Promise<Driver>;
}
