/**
 * The pieces that make an image of a snapshot's changes, shared by `ctl commit` (commit.ts)
 * and `ctl build` (../build/executor.ts), neither of which needs a named base image for them:
 *
 *   snapshotLayer  a snapshot diffed against its parent chain into a layer in content (gzip,
 *                  or zstd or uncompressed as asked),
 *                  labelled with its diff id (`containerd.io/uncompressed`); an empty diff makes
 *                  no blob at all (`empty`), so the caller records an empty_layer history entry
 *   writeImage     the config and an OCI manifest over the given layers, into content with the
 *                  GC labels that keep the config and layers alive through the manifest
 *
 * The new layer's snapshot is then made as an import makes it: `unpack` of the manifest applies
 * only what is missing (the new layer) on the parent's chain and commits `<ns>/<chain id>`.
 * Everything is written under the caller's lease, which holds it until an image record (or a
 * build cache record's lease) does.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureDir } from '@ctl/proto/fsutil';
import type { Mount } from '@ctl/runtime-native/mount';
import { bytesSource, writeBlob } from '../content/helpers';
import { snapshotName } from '../gc/mark';
import { type Descriptor, type ImageConfig, type Manifest, Label, MediaType, sha256 } from '../oci';
import type { UnpackTarget } from '../unpack/unpacker';

/** The diff id of a tar with no entries (only its two zero end blocks). */
export const EMPTY_LAYER_DIFF_ID = 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef';

/** Docker's layer media types and their OCI twins (the same bytes). */
const OCI_LAYER: Record<string, string> = {
  [MediaType.dockerLayer]: MediaType.ociLayer,
  [MediaType.dockerLayerGzip]: MediaType.ociLayerGzip,
  'application/vnd.docker.image.rootfs.foreign.diff.tar': 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip': 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
};

/** A layer descriptor with an OCI media type, so that it can sit in an OCI manifest. */
export const ociLayer = (layer: Descriptor): Descriptor => ({ ...layer, mediaType: OCI_LAYER[layer.mediaType] ?? layer.mediaType });

export interface SnapshotLayerRequest {
  target: UnpackTarget;
  /** The chain id the snapshot was prepared on ("" for none). */
  parent: string;
  /** The snapshot's key in the namespace (without `<ns>/`). */
  key: string;
  /** The lease that holds the blob written, and the view of the parent while it is read. */
  lease: string;
  hold(resource: { type: string; id: string }): Promise<void>;
  /** A directory of ours for the layer file while it is written. */
  tmpRoot: string;
  /** Runs around the read of the snapshot (commit's pause of a running container). */
  around?<T>(read: () => Promise<T>): Promise<T>;
  /** Make a layer of an empty diff too (docker commit always adds one; a build step does not). */
  keepEmpty?: boolean;
  /** Written into the blob's ingest ref, for `ctr content active` readers. */
  refPrefix?: string;
  /** The layer's media type, which says its compression (OCI gzip when not given). */
  mediaType?: string;
  signal?: AbortSignal;
}

export interface SnapshotLayer {
  /** The layer's descriptor (OCI gzip unless asked otherwise); undefined when the diff is empty (unless keepEmpty). */
  layer?: Descriptor;
  diffId: string;
  size: number;
  empty: boolean;
}

/**
 * The snapshot `<ns>/<key>` diffed against a view of its parent chain (the Differ reads an
 * overlay's upperdir alone when the view is exactly its lowerdirs) into a layer in content,
 * compressed as request.mediaType says (gzip by default).
 */
export async function snapshotLayer(request: SnapshotLayerRequest): Promise<SnapshotLayer> {
  const { target, parent } = request;
  const { snapshots } = target;
  const ns = target.namespace;
  const mediaType = request.mediaType ?? MediaType.ociLayerGzip;
  ensureDir(request.tmpRoot);
  const dir = await mkdtemp(join(request.tmpRoot, 'layer-'));
  try {
    const output = join(dir, 'layer');
    const viewKey = `${request.refPrefix ?? 'layer'}-view-${randomBytes(6).toString('hex')}`;
    let left: Mount[] = [];
    if (parent) {
      await request.hold({ type: `snapshots/${target.snapshotter}`, id: viewKey });
      left = await snapshots.view(snapshotName(ns, viewKey), snapshotName(ns, parent));
    }
    let diff;
    try {
      const right = await snapshots.mounts(snapshotName(ns, request.key));
      const read = () => target.differ.diff(left, right, mediaType, output, request.signal);
      diff = request.around ? await request.around(read) : await read();
    } finally {
      if (parent) await snapshots.remove(snapshotName(ns, viewKey)).catch(() => undefined);
    }
    if (diff.diffId === EMPTY_LAYER_DIFF_ID && !request.keepEmpty) return { diffId: diff.diffId, size: 0, empty: true };
    // Held explicitly too: a blob the namespace has already is not written, so not leased by the write.
    await request.hold({ type: 'content', id: diff.digest });
    await writeBlob(
      target.content,
      `${request.refPrefix ?? 'layer'}-${diff.digest}`,
      (offset) => createReadStream(output, { start: offset }),
      {
        total: diff.size,
        expected: diff.digest,
        labels: { [Label.uncompressed]: diff.diffId },
        lease: request.lease,
      },
    );
    return {
      layer: { mediaType, digest: diff.digest, size: diff.size },
      diffId: diff.diffId,
      size: diff.size,
      empty: diff.diffId === EMPTY_LAYER_DIFF_ID,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface WrittenImage {
  manifest: Descriptor;
  config: Descriptor;
}

/**
 * The config and an OCI manifest of the layers (Docker media types turned into their OCI
 * twins) into content under the lease; the manifest carries the GC labels that keep both.
 * The same config and layers always give the same manifest digest.
 */
export async function writeImage(
  content: UnpackTarget['content'],
  image: { config: ImageConfig; layers: Descriptor[] },
  hold: { lease: string; hold(resource: { type: string; id: string }): Promise<void>; refPrefix?: string },
): Promise<WrittenImage> {
  const { lease } = hold;
  const refPrefix = hold.refPrefix ?? 'image';
  const configBytes = Buffer.from(JSON.stringify(image.config));
  const config: Descriptor = { mediaType: MediaType.ociConfig, digest: sha256(configBytes), size: configBytes.length };
  await hold.hold({ type: 'content', id: config.digest });
  await writeBlob(content, `${refPrefix}-${config.digest}`, bytesSource(configBytes), {
    total: config.size,
    expected: config.digest,
    lease,
  });
  const layers = image.layers.map(ociLayer);
  const manifestJson: Manifest = { schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers };
  const manifestBytes = Buffer.from(JSON.stringify(manifestJson));
  const manifest: Descriptor = { mediaType: MediaType.ociManifest, digest: sha256(manifestBytes), size: manifestBytes.length };
  const gcLabels: Record<string, string> = { [`${Label.gcRefContent}config`]: config.digest };
  layers.forEach((l, i) => (gcLabels[`${Label.gcRefContent}l.${i}`] = l.digest));
  await hold.hold({ type: 'content', id: manifest.digest });
  await writeBlob(content, `${refPrefix}-${manifest.digest}`, bytesSource(manifestBytes), {
    total: manifest.size,
    expected: manifest.digest,
    labels: gcLabels,
    lease,
  });
  return { manifest, config };
}
