/**
 * Size limits for drivers whose file system offers no project quotas (this kernel has neither
 * XFS nor ext4 quota support): the snapshot's writable layer gets a file system of its own, on
 * an image file of that size mounted through a loop device, made only when a limit is asked
 * for and removed with the snapshot.
 */
export interface SizedLayers {
  /** Mounts a fresh file system of `bytes` on dir (dir exists and is empty). */
  create(dir: string, bytes: number): Promise<void>;
  /** Undoes create for dir; does nothing when dir has no such file system. */
  remove(dir: string): Promise<void>;
  /** Mounts dir's file system again when it has one that is not mounted (after a reboot). */
  restore(dir: string): Promise<void>;
}
