/**
 * Volumes of one namespace (ctl.volumes.v1), Docker's named volumes: a directory on this host
 * (its mountpoint, `<root>/containerd-lite/volumes/<ns>/<name>/_data`) that containers bind and
 * that outlives them. A volume is made by `create`, or by the runner for a container that names
 * a missing one or needs an anonymous one (image Volumes, a --mount without source). It is not
 * garbage collected: it lives until removed, and cannot be removed while a container's spec
 * mounts it ("in use", read from the containers themselves, so nothing can get out of step).
 */

export const VOLUME_DRIVER = 'local';

export interface Volume {
  /** Docker's grammar: [a-zA-Z0-9][a-zA-Z0-9_.-]+; anonymous volumes get 64 hex digits. */
  name: string;
  driver: string;
  mountpoint: string;
  labels: Record<string, string>;
  createdAt: Date;
  /** Made for one container; `ctl rm -v` and `ctl run --rm` remove it with the container. */
  anonymous: boolean;
  /** The containers whose specs mount it. */
  usedBy: string[];
}

export interface NewVolume {
  /** Empty or absent: a random 64-hex name. */
  name?: string;
  labels?: Record<string, string>;
  driver?: string;
  anonymous?: boolean;
}

export interface Volumes {
  /** Makes the volume, or answers the existing one of that name (docker's rule). InvalidArgument for a bad name or driver. */
  create(volume: NewVolume): Promise<Volume>;
  /** NotFound when there is no such volume. */
  get(name: string): Promise<Volume>;
  list(): Promise<Volume[]>;
  /**
   * Removes the volume and its data. FailedPrecondition naming the containers while any uses
   * it, with or without force (docker's rule); force only makes a missing volume no error.
   */
  remove(name: string, options?: { force?: boolean }): Promise<void>;
  /** Removes unused volumes, anonymous ones only unless all; answers their names. */
  prune(options?: { all?: boolean }): Promise<string[]>;
}
