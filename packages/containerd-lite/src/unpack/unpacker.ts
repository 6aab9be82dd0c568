/**
 * Unpacking an image: its layers applied in order onto snapshots, as containerd's unpacker
 * does. Each layer's snapshot is named by its chain id, so images that share lower layers share
 * their snapshots, and a layer already there is skipped. A layer is applied on an active
 * snapshot prepared on its parent's chain id and committed as its own chain id only when the
 * applied bytes had the diff id the image config names; otherwise the active snapshot is
 * removed and nothing is committed.
 *
 * Snapshot names in the snapshotter are `<namespace>/<key>`, so namespaces never see each
 * other's layers; labels and lease resources carry the key without the namespace, as in
 * containerd.
 */
import { ErrorKind, found, invalidArgument, isKind, wrap } from '@ctl/proto/errors';
import type { Snapshotter } from '@ctl/snapshotter/client';
import { traced } from '@ctl/proto/trace';
import { randomBytes } from 'node:crypto';
import type { Content } from '../content/content';
import { readJson } from '../archive/common';
import type { Differ } from '../diff/differ';
import { snapshotName } from '../gc/mark';
import type { Resource } from '../leases/leases';
import { type Descriptor, type ImageConfig, type Manifest, Label, chainIds, isConfig, isManifest } from '../oci';

export interface UnpackProgress {
  event: 'unpacking' | 'unpacked' | 'exists';
  /** The layer's digest. */
  name: string;
  /** Layers done so far, of total. */
  current: number;
  total: number;
}

export interface UnpackTarget {
  namespace: string;
  /** The namespace's content. */
  content: Content;
  /** Where a blob's bytes are on disk (the applier reads the file itself). */
  blobPath(digest: string): string;
  /** The snapshotter's driver, as named in labels and lease resources. */
  snapshotter: string;
  snapshots: Snapshotter;
  differ: Differ;
  /** Takes a resource into the operation's lease before it is made, so GC leaves it. */
  hold(resource: Resource): Promise<void>;
}

export interface UnpackResult {
  /** The chain id of the top layer: the parent of a container's snapshot. */
  chainId: string;
  applied: number;
  existing: number;
}

/**
 * The blobs of a pull that are still on their way, for an unpack that runs alongside the fetch:
 * a layer is applied from its file while it downloads, and its snapshot committed only once the
 * blob is (its digest checked).
 */
export interface Arrivals {
  /** Resolves once the blob is committed in content (its digest checked); rejects once the fetch failed. */
  stored(digest: string): Promise<void>;
  /**
   * Resolves once the blob's bytes go to a file: that file, while it is written (it holds the
   * blob's size once complete; it moves into the store at the commit), or undefined for a blob
   * already in content or written where it cannot be followed; rejects once the fetch failed.
   */
  writing(digest: string): Promise<string | undefined>;
}

/** The manifest and config of a platform manifest, checked against each other. */
export async function readImage(content: Content, manifest: Descriptor): Promise<{ manifest: Manifest; config: ImageConfig }> {
  if (!isManifest(manifest.mediaType))
    throw invalidArgument(`unpack: ${manifest.digest} is a ${manifest.mediaType}, not an image manifest`);
  const parsed = await readJson<Manifest>(content, manifest, 'manifest');
  if (!parsed.config || !Array.isArray(parsed.layers)) throw invalidArgument(`manifest ${manifest.digest} has no config or layers`);
  if (!isConfig(parsed.config.mediaType))
    throw invalidArgument(`manifest ${manifest.digest}: config media type ${parsed.config.mediaType} is not an image config`);
  const config = await readJson<ImageConfig>(content, parsed.config, 'image config');
  const diffIds = config.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.length !== parsed.layers.length) {
    throw invalidArgument(
      `image ${manifest.digest}: ${parsed.layers.length} layers but ${Array.isArray(diffIds) ? diffIds.length : 'no'} diff ids in its config`,
    );
  }
  return { manifest: parsed, config };
}

/**
 * arrivals: for an unpack alongside a pull, the blobs still on their way (each layer applied
 * while it downloads, committed once its digest is checked); without it every blob must be there
 * already.
 */
export async function unpack(
  target: UnpackTarget,
  manifest: Descriptor,
  progress?: (p: UnpackProgress) => void,
  signal?: AbortSignal,
  arrivals?: Arrivals,
): Promise<UnpackResult> {
  const { content, snapshots, namespace, snapshotter } = target;
  const image = await readImage(content, manifest);
  const diffIds = image.config.rootfs.diff_ids;
  const chain = chainIds(diffIds);
  const layers = image.manifest.layers;
  const snapshotType = `snapshots/${snapshotter}`;
  let applied = 0;
  let existing = 0;
  // What the layers have already, asked all at once (each held first, so the collector leaves
  // it): in a pull each await between one layer's commit and the next one's apply waits for an
  // event loop busy with the download.
  const present = await Promise.all(
    chain.map(async (chainId) => {
      await target.hold({ type: snapshotType, id: chainId });
      return found(snapshots.stat(snapshotName(namespace, chainId)));
    }),
  );
  // Labels that say a blob's diff id, written beside the next layers' work and awaited at the end.
  const labelled: Promise<unknown>[] = [];
  for (let i = 0; i < layers.length; i++) {
    signal?.throwIfAborted();
    const layer = layers[i]!;
    const chainId = chain[i]!;
    const name = snapshotName(namespace, chainId);
    if (present[i]) {
      existing++;
      progress?.({ event: 'exists', name: layer.digest, current: i + 1, total: layers.length });
      continue;
    }
    const growing = arrivals && (await traced('unpack.wait', () => arrivals.writing(layer.digest)));
    if (arrivals && !growing) await traced('unpack.wait', () => arrivals.stored(layer.digest));
    signal?.throwIfAborted();
    progress?.({ event: 'unpacking', name: layer.digest, current: i, total: layers.length });
    if (!growing) await content.info(layer.digest);
    const activeKey = `extract-${randomBytes(6).toString('hex')} ${chainId}`;
    await target.hold({ type: snapshotType, id: activeKey });
    const active = snapshotName(namespace, activeKey);
    const mounts = await traced('unpack.prepare', () => snapshots.prepare(active, i ? snapshotName(namespace, chain[i - 1]!) : ''));
    try {
      const blob = target.blobPath(layer.digest);
      const options = growing ? { inputSize: layer.size, inputMovedTo: blob } : {};
      try {
        await traced('unpack.apply', () =>
          target.differ.apply(growing ?? blob, layer.mediaType, mounts, { expectDiffId: diffIds[i], signal, ...options }),
        );
      } catch (err) {
        // Bytes that are not the blob's fail the fetch too: that is the failure to report.
        if (growing) await arrivals.stored(layer.digest);
        throw err;
      }
      // A snapshot holds only bytes whose digest was checked.
      if (growing) await traced('unpack.verified', () => arrivals.stored(layer.digest));
      await traced('unpack.commit', () => snapshots.commit(name, active));
    } catch (err) {
      await snapshots.remove(active).catch(() => undefined);
      // Another unpack of the same layer committed first: its snapshot is as good as ours.
      if (!isKind(err, ErrorKind.AlreadyExists)) throw wrap(err, `unpack layer ${i + 1}/${layers.length} (${layer.digest})`);
    }
    const labelling = content.update({ digest: layer.digest, labels: { [Label.uncompressed]: diffIds[i]! } }, [
      `labels.${Label.uncompressed}`,
    ]);
    // Awaited below; until then a failure of it must not count as unhandled.
    labelling.catch(() => undefined);
    labelled.push(labelling);
    applied++;
    progress?.({ event: 'unpacked', name: layer.digest, current: i + 1, total: layers.length });
  }
  await Promise.all(labelled);
  const top = chain[chain.length - 1];
  if (top) {
    const label = `${Label.gcRefSnapshot}${snapshotter}`;
    // Every container made from the image unpacks it again: only the first one writes the label.
    const { labels } = await content.info(image.manifest.config.digest);
    if (labels[label] !== top)
      await content.update({ digest: image.manifest.config.digest, labels: { [label]: top } }, [`labels.${label}`]);
  }
  return { chainId: top ?? '', applied, existing };
}
