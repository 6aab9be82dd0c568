/**
 * The OCI image vocabulary containerd-lite works in: media types (OCI and their Docker schema2
 * twins, which are structurally the same JSON), descriptors, manifests, indexes, configs, and
 * the layer identities (diff id, chain id). Pure data and functions; no I/O.
 */
import type { Platform } from '@ctl/proto/platforms';
import type * as Crypto from 'node:crypto';

export const MediaType = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayout: 'application/vnd.oci.layout.header.v1+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

/** Annotations on index entries that name an image. */
export const Annotation = {
  imageName: 'io.containerd.image.name',
  refName: 'org.opencontainers.image.ref.name',
} as const;

/** containerd's content and snapshot labels that the importer, unpacker and GC agree on. */
export const Label = {
  /** Prefix of labels naming child blobs a blob keeps alive (`containerd.io/gc.ref.content.<suffix>` = digest). */
  gcRefContent: 'containerd.io/gc.ref.content.',
  /** Prefix of labels naming the snapshot a blob keeps alive (`containerd.io/gc.ref.snapshot.<snapshotter>` = key). */
  gcRefSnapshot: 'containerd.io/gc.ref.snapshot.',
  /** A blob or snapshot with this label is a GC root. */
  gcRoot: 'containerd.io/gc.root',
  /** A lease expires at this RFC 3339 time. */
  gcExpire: 'containerd.io/gc.expire',
  /** On a layer blob: the diff id (digest of the uncompressed tar). */
  uncompressed: 'containerd.io/uncompressed',
  /** Prefix of labels listing where a blob is in a registry (`containerd.io/distribution.source.<domain>` = repo,…). */
  distributionSource: 'containerd.io/distribution.source.',
} as const;

export type { Platform };

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform;
  urls?: string[];
  artifactType?: string;
}

export interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface Index {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  created?: string;
  config?: {
    User?: string;
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    WorkingDir?: string;
    Labels?: Record<string, string> | null;
    StopSignal?: string;
    ExposedPorts?: Record<string, object>;
    Volumes?: Record<string, object>;
  } | null;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: { created?: string; created_by?: string; comment?: string; empty_layer?: boolean }[];
}

export const isIndex = (mediaType: string): boolean => mediaType === MediaType.ociIndex || mediaType === MediaType.dockerManifestList;
export const isManifest = (mediaType: string): boolean => mediaType === MediaType.ociManifest || mediaType === MediaType.dockerManifest;
export const isConfig = (mediaType: string): boolean => mediaType === MediaType.ociConfig || mediaType === MediaType.dockerConfig;

export type Compression = 'none' | 'gzip' | 'zstd';

/** The compression a layer media type declares; undefined when it is not a layer type we apply. */
export function layerCompression(mediaType: string): Compression | undefined {
  switch (mediaType) {
    case MediaType.ociLayer:
    case MediaType.dockerLayer:
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar':
    case 'application/vnd.docker.image.rootfs.foreign.diff.tar':
      return 'none';
    case MediaType.ociLayerGzip:
    case MediaType.dockerLayerGzip:
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip':
    case 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip':
      return 'gzip';
    case MediaType.ociLayerZstd:
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd':
      return 'zstd';
    default:
      return undefined;
  }
}

// node:crypto loaded on first use: the CLI's bundles carry this module for isIndex and isManifest.
export const sha256 = (data: string | Uint8Array): string =>
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  `sha256:${(require('node:crypto') as typeof Crypto).createHash('sha256').update(data).digest('hex')}`;

/** ChainID(L0) = DiffID(L0); ChainID(L0..n) = sha256("<ChainID(L0..n-1)> <DiffID(Ln)>"). */
export function chainIds(diffIds: readonly string[]): string[] {
  const chain: string[] = [];
  for (const diffId of diffIds) chain.push(chain.length ? sha256(`${chain[chain.length - 1]} ${diffId}`) : diffId);
  return chain;
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;
export const isDigest = (value: string): boolean => DIGEST.test(value);
