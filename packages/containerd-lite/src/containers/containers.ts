/**
 * Containers (containerd.services.containers.v1) of one namespace: a container is metadata
 * only — an id, the image it came from, the runtime to run it with, its OCI runtime spec, and
 * the snapshot that is its root filesystem. Nothing runs until a task is created for it.
 * A container is a GC root: its snapshot (and the snapshot's parents) stay while it exists.
 */

/** A protobuf Any: a type URL and the message's encoded bytes. */
export interface Any {
  typeUrl: string;
  value: Buffer;
}

/** The type URL containerd gives an OCI runtime spec carried as JSON in an Any. */
export const SPEC_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';

/**
 * The container's OCI spec as JSON, for readers that only look into it (its process, its
 * mounts); undefined when there is none or it is not JSON. Running a task is strict about the
 * spec (TaskManager), these readers are not.
 */
export function specOf<T = { process?: Record<string, unknown>; mounts?: { source?: string }[] }>(container: {
  spec?: Any;
}): T | undefined {
  if (!container.spec?.value?.length) return undefined;
  try {
    return JSON.parse(Buffer.from(container.spec.value).toString('utf8')) as T;
  } catch {
    return undefined;
  }
}

export interface Container {
  id: string;
  labels: Record<string, string>;
  /** The image reference the container was made from (may be empty). */
  image: string;
  runtime: { name: string; options?: Any };
  /** The OCI runtime spec (an Any of SPEC_TYPE_URL holding JSON). */
  spec?: Any;
  /** The snapshotter driver and the key (without namespace prefix) of the container's rootfs snapshot. */
  snapshotter: string;
  snapshotKey: string;
  createdAt: Date;
  updatedAt: Date;
  extensions: Record<string, Any>;
  /** The sandbox the container belongs to (containerd 1.7+); stored, not interpreted. */
  sandbox?: string;
}

export type NewContainer = Pick<Container, 'id'> & Partial<Omit<Container, 'id' | 'createdAt' | 'updatedAt'>>;

export interface Containers {
  /** NotFound when there is no such container. */
  get(id: string): Promise<Container>;
  /** Containers matching any of the filters (id, image, runtime.name, labels.<key>, snapshotter, snapshotKey). */
  list(filters?: string[]): Promise<Container[]>;
  /** AlreadyExists when the id is taken; InvalidArgument for a bad id (containerd's identifier rules) or no runtime name. */
  create(container: NewContainer): Promise<Container>;
  /**
   * Replaces the fields named in fieldpaths ("labels", "labels.<key>", "image", "spec",
   * "snapshotkey", "snapshotter", "runtime", "extensions", "extensions.<key>"), or all mutable
   * fields when none are named. id, runtime and snapshotter changes follow containerd's rules.
   */
  update(container: NewContainer, fieldpaths?: string[]): Promise<Container>;
  /** NotFound when there is no such container; schedules a garbage collection. */
  /** options.collect false: no collection is scheduled (the caller removes the snapshot itself). */
  delete(id: string, options?: { collect?: boolean }): Promise<void>;
}
