/**
 * Snapshots: copy-on-write file systems for images and containers, as containerd's
 * core/snapshots/snapshotter.go defines them.
 *
 * Vocabulary:
 * - key: names an active or view snapshot (the caller's handle while it works on it);
 * - name: names a committed snapshot; keys and names share one space and never collide;
 * - parent: the committed snapshot a new one starts from ("" for an empty one).
 *
 * Lifecycle: Prepare(key, parent) makes an ACTIVE, writable snapshot and returns the mounts
 * that show it; the caller mounts them and writes. Commit(name, key) turns the active
 * snapshot into a COMMITTED, read-only one called name (key is gone), which may be the parent
 * of further snapshots. View(key, parent) makes a read-only VIEW of a committed snapshot,
 * which cannot be committed. Remove(key) deletes any snapshot without children.
 *
 * Errors (by kind): NotFound for an unknown key or parent; AlreadyExists when a key or name is
 * taken; FailedPrecondition for Commit of a non-active snapshot, Mounts of a committed one, and
 * Remove of a snapshot with children; InvalidArgument for malformed keys, a parent that is not
 * committed, labels over the size bound, and updates of anything but labels.
 */
import { parseFilters } from '@ctl/proto/filters';
import type { Mount } from '@ctl/runtime-native/mount';

export type Kind = 'VIEW' | 'ACTIVE' | 'COMMITTED';

export interface Info {
  /** The key (active, view) or name (committed). */
  name: string;
  /** The parent's name, "" when there is none. */
  parent: string;
  kind: Kind;
  createdAt: Date;
  updatedAt: Date;
  labels: Record<string, string>;
}

/** What the host holds under a driver's root that no snapshot accounts for (ctl.snapshotter.v1 System.Check). */
export interface Leftover {
  kind: 'mount' | 'loop';
  /** A mount point or a loop device. */
  subject: string;
  detail: string;
}

/** Disk use of one snapshot's own layer, not its parents'. */
export interface Usage {
  size: number;
  inodes: number;
}

/** One mount; applied in order they make the snapshot's view. Mount handling lives in runtime-native, shared by the services. */
export type { Mount };

export interface Snapshotter {
  /** Info of any snapshot by key or name. */
  stat(key: string): Promise<Info>;
  /**
   * Changes labels only. With fieldpaths "labels" all labels are replaced, with "labels.<k>"
   * one is set (an empty value removes it); without fieldpaths all labels are replaced.
   */
  update(info: Pick<Info, 'name' | 'labels'>, fieldpaths?: string[]): Promise<Info>;
  usage(key: string): Promise<Usage>;
  /** The mounts of an active or view snapshot. */
  mounts(key: string): Promise<Mount[]>;
  prepare(key: string, parent: string, labels?: Record<string, string>): Promise<Mount[]>;
  view(key: string, parent: string, labels?: Record<string, string>): Promise<Mount[]>;
  commit(name: string, key: string, labels?: Record<string, string>): Promise<void>;
  remove(key: string): Promise<void>;
  /**
   * Calls fn for every snapshot matching the filters: containerd's syntax, entries OR-ed,
   * comma-separated selectors within one AND-ed (name, parent, kind, labels.<key>; ==, !=, ~=).
   */
  walk(fn: (info: Info) => void | Promise<void>, filters?: string[]): Promise<void>;
}

/** Optional: reclaims disk space that no snapshot record points to any more. */
export interface Cleaner {
  cleanup(): Promise<void>;
}

/**
 * The label that asks for a size limit on an active snapshot's writable layer, in bytes or with
 * a unit (k, m, g; powers of 1024). It starts with containerd.io/snapshot/ so that containerd
 * forwards it to proxy snapshotters.
 */
export const SIZE_LIMIT_LABEL = 'containerd.io/snapshot/ctl.size-limit';

/**
 * The label containerd's pull unpacker puts on Prepare: the chain id of the layer about to be
 * unpacked. A Prepare carrying it, for a layer already committed on the same parent with the
 * same label, answers AlreadyExists so that containerd reuses that snapshot (found by List
 * with this label) instead of unpacking the layer again.
 */
export const UNPACK_REF_LABEL = 'containerd.io/snapshot.ref';

/** Walk's filters (containerd's syntax over name, parent, kind and labels.<key>) as a test of one Info. */
export function infoFilter(filters: readonly string[]): (info: Info) => boolean {
  const filter = parseFilters(filters);
  return (info) =>
    filter.match((path) => {
      switch (path[0]) {
        case 'name':
          return path.length === 1 ? info.name : undefined;
        case 'parent':
          return path.length === 1 ? info.parent : undefined;
        case 'kind':
          return path.length === 1 ? info.kind.toLowerCase() : undefined;
        case 'labels':
          return info.labels[path.slice(1).join('.')];
        default:
          return undefined;
      }
    });
}
