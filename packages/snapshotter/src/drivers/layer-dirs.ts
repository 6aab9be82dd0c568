/**
 * The on-disk layout overlayfs and native share: snapshots/<id> per snapshot, its layer in
 * snapshots/<id>/fs, an optional size-limited file system mounted on snapshots/<id>.
 */
import { mountTable } from '@ctl/runtime-native/mount';
import { realpathSync, renameSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { loopDevices } from '../quota/system';
import type { Leftover, Usage } from '../snapshotter';
import type { DriverSnapshot } from './driver';
import { runTool } from '@ctl/runtime-native/launch';
import { diskUsage, entries, makeDirs } from './disk';
import type { SizedLayers } from './sized';

/** How long removed layers wait in the trash before they are deleted, in ms. */
const SWEEP_DELAY_MS = 1000;

export abstract class LayerDirs {
  protected readonly snapshots: string;
  /**
   * Removed layers are renamed here at once and deleted a moment later in one sweep, as
   * containerd's garbage collector deletes behind its records: a remove then costs a rename,
   * and the deletion of many files runs off the path of the calls that follow.
   */
  private readonly trash: string;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> = Promise.resolve();

  constructor(
    root: string,
    protected readonly sized: SizedLayers,
  ) {
    this.snapshots = join(root, 'snapshots');
    this.trash = join(root, 'trash');
    makeDirs(this.snapshots, this.trash);
    // Whatever a crash left in the trash goes too.
    this.scheduleSweep();
  }

  /** A sweep runs SWEEP_DELAY_MS after the first removal that finds none pending, so removed
   * layers never wait longer than that, however steady the stream of removals. */
  private scheduleSweep(): void {
    if (this.sweepTimer) return;
    this.sweepTimer = setTimeout(() => void this.collect(), SWEEP_DELAY_MS);
    this.sweepTimer.unref();
  }

  /** Deletes the removed layers now. */
  collect(): Promise<void> {
    clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    this.sweeping = this.sweeping.then(async () => {
      const removed = (await entries(this.trash)).map((e) => join(this.trash, e));
      // One rm process for the whole sweep deletes far faster than a walk in JavaScript.
      if (removed.length) await runTool('rm', ['-rf', '--one-file-system', '--', ...removed]);
    });
    return this.sweeping;
  }

  async close(): Promise<void> {
    await this.collect();
  }

  protected dir(id: string): string {
    return join(this.snapshots, id);
  }

  protected fs(id: string): string {
    return join(this.dir(id), 'fs');
  }

  async restore(ids: string[]): Promise<void> {
    for (const id of ids) await this.sized.restore(this.dir(id));
  }

  async remove(id: string): Promise<void> {
    // A size-limited layer is a mount point, which cannot be renamed: unmount it first.
    await this.sized.remove(this.dir(id));
    try {
      renameSync(this.dir(id), join(this.trash, `${id}-${Date.now()}-${process.pid}`));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      return;
    }
    this.scheduleSweep();
  }

  usage(snapshot: DriverSnapshot): Promise<Usage> {
    return diskUsage(this.fs(snapshot.id));
  }

  /**
   * Mounts under the root other than a recorded snapshot's size-limited layer (its own image,
   * `<id>.img`, loop-mounted on its dir), and loop devices bound to files under the root that
   * no such mount uses: what a crash between the steps of a create or remove left.
   */
  async leftovers(ids: ReadonlySet<string>): Promise<Leftover[]> {
    // The kernel reports mount points and loop files by their real paths.
    const root = realpathSync(dirname(this.snapshots));
    const snapshots = join(root, 'snapshots');
    const under = (p: string): boolean => p.startsWith(root + sep);
    const held = new Set([...ids].map((id) => join(snapshots, id)));
    const loops = await loopDevices();
    const backing = new Map(loops.map((l) => [l.device, l.backing]));
    const found: Leftover[] = [];
    // A device mounted under the root is the mount's: reported with it when that is a leftover.
    const mountedHere = new Set<string>();
    for (const m of await mountTable()) {
      if (!under(m.mountPoint)) continue;
      mountedHere.add(m.source);
      if (held.has(m.mountPoint) && backing.get(m.source) === `${m.mountPoint}.img`) continue;
      found.push({ kind: 'mount', subject: m.mountPoint, detail: `${m.fsType} mount of ${m.source} that no snapshot holds` });
    }
    for (const l of loops) {
      if (under(l.backing) && !mountedHere.has(l.device))
        found.push({ kind: 'loop', subject: l.device, detail: `bound to ${l.backing}, which no snapshot has mounted` });
    }
    return found;
  }

  async onDisk(): Promise<string[]> {
    // A size-limited layer's image (<id>.img, or <id>.img.tmp while it is formatted) counts
    // too: a crash may leave it alone.
    const ids = (await entries(this.snapshots)).map((e) => /^(\d+)(?:\.img(?:\.tmp)?)?$/.exec(e)?.[1]);
    return [...new Set(ids.filter((id): id is string => id !== undefined))];
  }
}
