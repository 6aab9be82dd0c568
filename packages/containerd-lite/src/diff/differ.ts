/**
 * The diff service's domain (containerd.services.diff.v1): apply a layer blob onto the mounts
 * of a snapshot, and make a layer blob from the difference between two sets of mounts.
 *
 * Where the mounts allow, layers are applied without mounting anything, as containerd's
 * overlay-aware applier does: a writable bind mount is the snapshot's own directory (the
 * native and btrfs drivers, and an overlay snapshot without parents), and an overlay mount's
 * upperdir takes the layer in overlayfs' own whiteout form. Anything else is mounted on a
 * temporary directory and the layer applied through the mount, whiteouts as deletions.
 * The applier itself (runtime-native's ctl-apply) runs chrooted into its target, so no entry
 * of a layer can reach outside it.
 */
import { invalidArgument } from '@ctl/proto/errors';
import { type ApplyResult, type DiffResult, type WhiteoutMode, applyLayer, diffLayer } from '@ctl/runtime-native/layers';
import { type Mount, withReadonlyTempMount, withTempMount } from '@ctl/runtime-native/mount';
import { ensureDir } from '@ctl/proto/fsutil';
import { mkdtemp, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Compression, MediaType, layerCompression } from '../oci';

/** Where a layer can be written straight into a directory, and in which whiteout form. */
interface DirectTarget {
  dir: string;
  whiteouts: WhiteoutMode;
}

const option = (mount: Mount, name: string): string | undefined =>
  mount.options.find((o) => o.startsWith(`${name}=`))?.slice(name.length + 1);

function directTarget(mounts: Mount[]): DirectTarget | undefined {
  if (mounts.length !== 1) return undefined;
  const [mount] = mounts as [Mount];
  if (mount.type === 'bind' && !mount.options.includes('ro')) return { dir: mount.source, whiteouts: 'remove' };
  const upper = mount.type === 'overlay' ? option(mount, 'upperdir') : undefined;
  return upper ? { dir: upper, whiteouts: 'overlay' } : undefined;
}

/** The directories an overlay or bind mount shows, top first; undefined for other mounts. */
function layerDirs(mounts: Mount[]): string[] | undefined {
  if (mounts.length === 0) return [];
  if (mounts.length !== 1) return undefined;
  const [mount] = mounts as [Mount];
  if (mount.type === 'bind') return [mount.source];
  if (mount.type !== 'overlay') return undefined;
  const upper = option(mount, 'upperdir');
  const lower = option(mount, 'lowerdir')?.split(':') ?? [];
  return upper ? [upper, ...lower] : lower;
}

const sameDirs = (a: string[], b: string[]): boolean => a.length === b.length && a.every((dir, i) => dir === b[i]);

/** The compression a diff media type asks for. */
export function diffCompression(mediaType: string): Compression {
  const compression = layerCompression(mediaType || MediaType.ociLayerGzip);
  if (!compression) throw invalidArgument(`diff: unsupported media type ${JSON.stringify(mediaType)}`);
  return compression;
}

export interface ApplyOptions {
  /** The diff id the layer must have; a mismatch is FailedPrecondition (the caller discards the snapshot). */
  expectDiffId?: string;
  /** The blob file is still being written (a pull's download) up to this size: see runtime-native's applyLayer. */
  inputSize?: number;
  /** Where that file goes once complete (the blob's place in the store). */
  inputMovedTo?: string;
  signal?: AbortSignal;
}

export class Differ {
  /** tmpRoot: a directory of our own for mount points, on the same file system as the content store. */
  constructor(private readonly tmpRoot: string) {}

  /** Applies the layer in file `blob` (of media type mediaType) onto mounts. */
  async apply(blob: string, mediaType: string, mounts: Mount[], options: ApplyOptions = {}): Promise<ApplyResult> {
    if (!layerCompression(mediaType)) throw invalidArgument(`apply: unsupported layer media type ${JSON.stringify(mediaType)}`);
    if (mounts.length === 0) throw invalidArgument('apply: no mounts to apply the layer onto');
    const { expectDiffId, inputSize, inputMovedTo, signal } = options;
    const input = { input: blob, expectDiffId, inputSize, inputMovedTo, signal };
    const direct = directTarget(mounts);
    if (direct) return applyLayer({ ...input, target: direct.dir, whiteouts: direct.whiteouts });
    return withTempMount(mounts, this.tmpRoot, (dir) => applyLayer({ ...input, target: dir, whiteouts: 'remove' }));
  }

  /**
   * Writes to file `output` the layer that turns what `left` shows into what `right` shows.
   * An overlay snapshot over exactly the left's layers is diffed from its upperdir alone;
   * otherwise both sides are mounted read-only and compared.
   */
  async diff(left: Mount[], right: Mount[], mediaType: string, output: string, signal?: AbortSignal): Promise<DiffResult> {
    const compression = diffCompression(mediaType);
    if (right.length === 0) throw invalidArgument('diff: no mounts on the right side');
    const leftDirs = layerDirs(left);
    const rightDirs = layerDirs(right);
    const [rightMount] = right;
    if (
      leftDirs &&
      rightDirs &&
      rightMount?.type === 'overlay' &&
      option(rightMount, 'upperdir') &&
      sameDirs(rightDirs.slice(1), leftDirs)
    ) {
      return diffLayer({ upper: rightDirs[0]!, mode: 'overlay', compression, output, signal });
    }
    return withReadonlyTempMount(right, this.tmpRoot, (upper) =>
      left.length === 0
        ? this.withEmptyDir((lower) => diffLayer({ lower, upper, mode: 'compare', compression, output, signal }))
        : withReadonlyTempMount(left, this.tmpRoot, (lower) => diffLayer({ lower, upper, mode: 'compare', compression, output, signal })),
    );
  }

  /** Nothing on the left (a first layer): everything on the right is compared with an empty tree. */
  private async withEmptyDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
    ensureDir(this.tmpRoot);
    const dir = await mkdtemp(join(this.tmpRoot, 'empty-'));
    try {
      return await fn(dir);
    } finally {
      await rmdir(dir).catch(() => undefined);
    }
  }
}
