/**
 * The on-disk layout overlayfs and native share: snapshots/<id> per snapshot, its layer in
 * snapshots/<id>/fs, an optional size-limited file system mounted on snapshots/<id>.
 */
import { join } from 'node:path';
import type { Usage } from '../snapshotter';
import type { DriverSnapshot } from './driver';
import { diskUsage, entries, removeTree } from './disk';
import type { SizedLayers } from './sized';

export abstract class LayerDirs {
  protected readonly snapshots: string;

  constructor(
    root: string,
    protected readonly sized: SizedLayers,
  ) {
    this.snapshots = join(root, 'snapshots');
  }

  protected dir(id: string): string {
    return join(this.snapshots, id);
  }

  protected fs(id: string): string {
    return join(this.dir(id), 'fs');
  }

  async remove(id: string): Promise<void> {
    await this.sized.remove(this.dir(id));
    await removeTree(this.dir(id));
  }

  usage(snapshot: DriverSnapshot): Promise<Usage> {
    return diskUsage(this.fs(snapshot.id));
  }

  async onDisk(): Promise<string[]> {
    // A size-limited layer's image (<id>.img, or <id>.img.tmp while it is formatted) counts
    // too: a crash may leave it alone.
    const ids = (await entries(this.snapshots)).map((e) => /^(\d+)(?:\.img(?:\.tmp)?)?$/.exec(e)?.[1]);
    return [...new Set(ids.filter((id): id is string => id !== undefined))];
  }
}
