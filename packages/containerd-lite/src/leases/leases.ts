/**
 * Leases (containerd.services.leases.v1) of one namespace: a lease holds resources (blobs,
 * ingests, snapshots) so that the garbage collector leaves them while an operation that made
 * them (an import, an unpack, a container creation) is still under way. A lease with the label
 * `containerd.io/gc.expire` (RFC 3339) stops holding anything at that time.
 */

/**
 * The gRPC metadata header that puts a call inside a lease (containerd's): a content write
 * made with it is held by the lease, ingest and committed blob alike.
 */
export const LEASE_HEADER = 'containerd-lease';

/** The lease a call's containerd-lease header names, if any. */
export function leaseFromMetadata(metadata: { get(key: string): unknown[] }): string | undefined {
  return metadata.get(LEASE_HEADER).map(String)[0] || undefined;
}

/**
 * On a lease the engine takes for one of its own operations (import, pull, run, commit): the run
 * of containerd-lite that took it, a random id per start. An operation dies with its daemon, so
 * at start-up the leases of earlier runs hold nothing any more and go (`releaseEarlierRuns`);
 * leases made by clients (ctr, users) carry no such label and are never touched.
 */
export const DAEMON_RUN_LABEL = 'ctl.daemon-run';

export interface Lease {
  id: string;
  createdAt: Date;
  labels: Record<string, string>;
}

/**
 * A resource a lease holds, with containerd's type names: "content" (id = digest), "ingests"
 * (id = ref), "snapshots/<snapshotter>" (id = snapshot key).
 */
export interface Resource {
  id: string;
  type: string;
}

export interface DeleteLeaseOptions {
  /** Collect garbage before returning. */
  sync?: boolean;
  /**
   * false: no collection is scheduled, because the caller knows that everything the lease held
   * is referenced otherwise (in process only; the gRPC API always schedules one).
   */
  collect?: boolean;
}

export interface Leases {
  /** A random id when none is given; AlreadyExists when the id is taken. */
  create(options?: { id?: string; labels?: Record<string, string> }): Promise<Lease>;
  /** NotFound when there is no such lease; schedules a garbage collection. */
  delete(id: string, options?: DeleteLeaseOptions): Promise<void>;
  /** Leases matching any of the filters (fields id, labels.<key>). */
  list(filters?: string[]): Promise<Lease[]>;
  /** NotFound when there is no such lease; adding a resource twice is not an error. */
  addResource(id: string, resource: Resource): Promise<void>;
  deleteResource(id: string, resource: Resource): Promise<void>;
  listResources(id: string): Promise<Resource[]>;
}

/** The leases of a namespace as the engine's own operations use them. */
export interface OperationLeases extends Leases {
  /** A lease for an operation of this daemon run (DAEMON_RUN_LABEL), expiring after ttlMs in any case. */
  createForOperation(ttlMs: number): Promise<Lease>;
}
