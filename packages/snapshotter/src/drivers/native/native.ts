/**
 * native: each snapshot a plain directory snapshots/<id> holding the whole tree, made by copying
 * the parent's. Works on any file system; the copy shares blocks (reflink, FICLONE) where the
 * file system can, and is a full copy otherwise (cp --reflink=auto). Whiteouts need no
 * representation: a deletion is simply absent from the copy.
 */
import { join } from 'node:path';
import type { Mount, Usage } from '../../snapshotter';
import type { CreateOptions, Driver, DriverSnapshot } from '../driver';
import { diskUsage, entries, makeDirs, removeTree, tool } from '../disk';
import type { SizedLayers } from '../sized';

export class NativeDriver implements Driver {
  readonly name = 'native';
  private readonly snapshots: string;

  constructor(
    root: string,
    private readonly sized: SizedLayers,
  ) {
    this.snapshots = join(root, 'snapshots');
  }

  private dir(id: string): string {
    return join(this.snapshots, id);
  }

  private fs(id: string): string {
    return join(this.dir(id), 'fs');
  }

  async create(snapshot: DriverSnapshot, options: CreateOptions): Promise<void> {
    await makeDirs(this.dir(snapshot.id));
    if (options.sizeLimit !== undefined) await this.sized.create(this.dir(snapshot.id), options.sizeLimit);
    const parent = snapshot.parents[0];
    if (parent === undefined) {
      await makeDirs(this.fs(snapshot.id));
      return;
    }
    // cp -a keeps owners, modes, times, xattrs, hard links and device nodes.
    await tool('cp', ['-a', '--reflink=auto', '--no-target-directory', this.fs(parent), this.fs(snapshot.id)]);
  }

  mounts(snapshot: DriverSnapshot): Mount[] {
    return [{ type: 'bind', source: this.fs(snapshot.id), options: [snapshot.kind === 'VIEW' ? 'ro' : 'rw', 'rbind'] }];
  }

  async commit(): Promise<void> {
    // A committed native snapshot is its directory as it is.
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
