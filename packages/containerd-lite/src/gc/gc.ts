/**
 * Garbage collection of containerd-lite's metadata, content and snapshots: the shapes shared
 * by the collector, its gRPC API (ctl.gc.v1) and the light client. See mark.ts for what is
 * kept and collector.ts for how a collection runs.
 */

/** What one collection removed. */
export interface CollectResult {
  /** Content records removed (one per namespace and digest). */
  contentRemoved: number;
  /** Blob files removed from disk: the last record of a digest went, or an orphan file. */
  blobsRemoved: number;
  ingestsRemoved: number;
  snapshotsRemoved: number;
  /** Expired leases removed. */
  leasesRemoved: number;
  /** Bytes of blob files and ingest data removed (snapshots not counted). */
  bytesFreed: number;
  durationMs: number;
  /** Parts that could not be collected (an unreachable snapshotter), one line each. */
  errors: string[];
}

/** Runs a collection now: the API of ctl.gc.v1, the same for the collector and the client. */
export interface GarbageCollector {
  collect(): Promise<CollectResult>;
}

/** What stores call after a delete: a debounced collection, or (sync) one run before answering. */
export interface GcTrigger {
  schedule(): void;
  collect(): Promise<CollectResult>;
}

/** A collection that found nothing to do. */
export const emptyResult = (): CollectResult => ({
  contentRemoved: 0,
  blobsRemoved: 0,
  ingestsRemoved: 0,
  snapshotsRemoved: 0,
  leasesRemoved: 0,
  bytesFreed: 0,
  durationMs: 0,
  errors: [],
});

/** A trigger that does nothing (stores used without a collector, as in unit tests). */
export const noGc: GcTrigger = {
  schedule: () => undefined,
  collect: async () => emptyResult(),
};

/**
 * The trigger the stores are made with, before the collector exists: the collector reads the
 * stores, so it is made after them and bound here once (bind). Until then nothing is collected.
 */
export class GcRelay implements GcTrigger {
  private target: GcTrigger = noGc;

  bind(collector: GcTrigger): void {
    this.target = collector;
  }

  schedule(): void {
    this.target.schedule();
  }

  collect(): Promise<CollectResult> {
    return this.target.collect();
  }
}

/**
 * A GC root another component adds (containers hold their snapshot and image). Snapshot keys
 * are without the namespace prefix, as in labels and lease resources.
 */
export type GcRoot =
  { type: 'content'; namespace: string; digest: string } | { type: 'snapshot'; namespace: string; snapshotter: string; key: string };

/**
 * Called at every collection, under its lock held exclusive, for the roots of the moment. It
 * must only read: a provider that waited on a store change (which takes the lock shared)
 * would wait forever.
 */
export type RootsProvider = () => Promise<Iterable<GcRoot>> | Iterable<GcRoot>;
