/**
 * native: each snapshot a plain directory snapshots/<id> holding the whole tree, made by copying
 * the parent's. Works on any file system; the copy shares blocks (reflink, FICLONE) where the
 * file system can, and is a full copy otherwise (cp --reflink=auto). Whiteouts need no
 * representation: a deletion is simply absent from the copy.
 */
import type { Mount } from '../../snapshotter';
import type { CreateOptions, Driver, DriverSnapshot } from '../driver';
import { runTool } from '@ctl/runtime-native/launch';
import { makeDirs } from '../disk';
import { LayerDirs } from '../layer-dirs';

export class NativeDriver extends LayerDirs implements Driver {
  readonly name = 'native';

  async create(snapshot: DriverSnapshot, options: CreateOptions): Promise<void> {
    makeDirs(this.dir(snapshot.id));
    if (options.sizeLimit !== undefined) await this.sized.create(this.dir(snapshot.id), options.sizeLimit);
    const parent = snapshot.parents[0];
    if (parent === undefined) {
      makeDirs(this.fs(snapshot.id));
      return;
    }
    // cp -a keeps owners, modes, times, xattrs, hard links and device nodes.
    await runTool('cp', ['-a', '--reflink=auto', '--no-target-directory', this.fs(parent), this.fs(snapshot.id)]);
  }

  mounts(snapshot: DriverSnapshot): Mount[] {
    return [{ type: 'bind', source: this.fs(snapshot.id), options: [snapshot.kind === 'VIEW' ? 'ro' : 'rw', 'rbind'] }];
  }

  async commit(): Promise<void> {
    // A committed native snapshot is its directory as it is.
  }
}
