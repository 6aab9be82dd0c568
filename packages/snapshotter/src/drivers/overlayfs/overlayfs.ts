/**
 * overlayfs: each snapshot a directory snapshots/<id> with fs/ (its layer) and, when active,
 * work/ (overlay's work dir). An active snapshot mounts as an overlay of its parents' layers
 * under its own; whiteouts and opaque directories are overlay's own (character device 0/0,
 * trusted.overlay.opaque), so layers apply with no translation.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Mount } from '../../snapshotter';
import type { CreateOptions, Driver, DriverSnapshot } from '../driver';
import { makeDirs } from '../disk';
import { LayerDirs } from '../layer-dirs';

export class OverlayDriver extends LayerDirs implements Driver {
  readonly name = 'overlayfs';

  async create(snapshot: DriverSnapshot, options: CreateOptions): Promise<void> {
    const dir = this.dir(snapshot.id);
    makeDirs(dir);
    // A size-limited layer lives on a file system of its own, mounted on the snapshot's dir,
    // so that fs/ and work/ (which overlay wants on one file system) are both inside it.
    if (options.sizeLimit !== undefined) await this.sized.create(dir, options.sizeLimit);
    makeDirs(this.fs(snapshot.id));
    if (snapshot.kind === 'ACTIVE') makeDirs(join(dir, 'work'));
  }

  mounts(snapshot: DriverSnapshot): Mount[] {
    const { id, kind, parents } = snapshot;
    if (parents.length === 0) {
      return [{ type: 'bind', source: this.fs(id), options: [kind === 'VIEW' ? 'ro' : 'rw', 'rbind'] }];
    }
    if (kind === 'VIEW' && parents.length === 1) {
      return [{ type: 'bind', source: this.fs(parents[0]!), options: ['ro', 'rbind'] }];
    }
    const lowerdir = `lowerdir=${parents.map((p) => this.fs(p)).join(':')}`;
    if (kind === 'VIEW') return [{ type: 'overlay', source: 'overlay', options: [lowerdir] }];
    // A crash between a commit's removal of work/ and the commit's record leaves a snapshot
    // that is still active but has no work/; overlay needs one (empty), so it comes back here.
    makeDirs(join(this.dir(id), 'work'));
    return [
      { type: 'overlay', source: 'overlay', options: [`workdir=${join(this.dir(id), 'work')}`, `upperdir=${this.fs(id)}`, lowerdir] },
    ];
  }

  async commit(snapshot: DriverSnapshot): Promise<void> {
    // The layer stays where it is; overlay's work dir is only for active snapshots. It holds
    // at most overlay's two empty bookkeeping dirs, so a synchronous remove is the cheap one.
    rmSync(join(this.dir(snapshot.id), 'work'), { recursive: true, force: true });
  }
}
