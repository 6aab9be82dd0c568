/**
 * Moving images in and out on the server side (ctl.transfer.v1), so that the command line only
 * names a file or a reference and shows progress. An import or pull runs under a lease of its
 * own, so the garbage collector leaves its blobs and snapshots alone until the image records
 * hold them; the images are named only after every layer is unpacked and verified (an import's
 * beforeNaming; a pull's unpack, which runs alongside the fetch of the layers), so a failed import
 * or pull names nothing and what it stored goes with its lease; the lease expires by itself after
 * a day if the daemon dies mid-way.
 */
import { invalidArgument } from '@ctl/proto/errors';
import { exportArchive, importArchive } from '../archive';
import type { ContentStore } from '../content/store';
import type { Images } from '../images/images';
import type { OperationLeases, Resource } from '../leases/leases';
import type { Descriptor, Platform } from '../oci';
import { pullImage, pushImage } from '../remotes';
import { type Arrivals, type UnpackTarget, unpack } from '../unpack/unpacker';

export interface ProgressEvent {
  event: string;
  name: string;
  current: number;
  total: number;
  message?: string;
}

export type Progress = (event: ProgressEvent) => void;

export interface ImportRequest {
  path: string;
  format: string;
  platforms: Platform[];
  allPlatforms: boolean;
  snapshotter: string;
  unpack: boolean;
  baseName: string;
}

export interface ExportRequest {
  path: string;
  format: string;
  references: string[];
  platforms: Platform[];
  allPlatforms: boolean;
}

/** How to reach a registry (plain HTTP, credentials). */
export interface RegistryRequest {
  plainHttp: boolean;
  username: string;
  password: string;
}

export interface PullRequest {
  reference: string;
  platforms: Platform[];
  allPlatforms: boolean;
  snapshotter: string;
  unpack: boolean;
  registry?: RegistryRequest | null;
}

export interface PushRequest {
  reference: string;
  target: string;
  platform?: Platform | null;
  registry?: RegistryRequest | null;
}

const registryOptions = (r: RegistryRequest | null | undefined) => ({
  plainHttp: Boolean(r?.plainHttp),
  ...(r?.username && { credentials: { username: r.username, password: r.password ?? '' } }),
});

export interface TransferDeps {
  content: ContentStore;
  images(namespace: string): Images;
  leases(namespace: string): OperationLeases;
  /** What an unpack into this namespace and snapshotter needs, holding what it makes in the lease through hold. */
  unpackTarget(namespace: string, snapshotter: string, hold: (resource: Resource) => Promise<void>): Promise<UnpackTarget>;
}

/** An operation's lease lives this long at most, should the daemon die before it is deleted. */
const LEASE_TTL_MS = 24 * 3600_000;

async function withLease<T>(leases: OperationLeases, fn: (lease: string) => Promise<T>): Promise<T> {
  const lease = await leases.createForOperation(LEASE_TTL_MS);
  try {
    return await fn(lease.id);
  } finally {
    await leases.delete(lease.id);
  }
}

const platforms = (list: Platform[]): Platform[] => list.filter((p) => p.os || p.architecture);

export class Transfer {
  constructor(private readonly deps: TransferDeps) {}

  async import(namespace: string, request: ImportRequest, progress: Progress, signal?: AbortSignal): Promise<void> {
    if (!request.path) throw invalidArgument('import: no archive path');
    const { deps } = this;
    const leases = deps.leases(namespace);
    await withLease(leases, async (lease) => {
      const content = deps.content.namespace(namespace);
      const result = await importArchive(request.path, {
        content,
        images: deps.images(namespace),
        lease,
        format: request.format as '' | 'oci-archive' | 'docker-archive',
        platforms: platforms(request.platforms),
        allPlatforms: request.allPlatforms,
        baseName: request.baseName,
        progress,
        signal,
        beforeNaming: (manifests) => this.unpack(namespace, request, lease, manifests, progress, signal),
      });
      for (const image of result.images)
        progress({ event: 'imported', name: image.name, current: 0, total: 0, message: image.target.digest });
    });
  }

  async export(namespace: string, request: ExportRequest, progress: Progress, signal?: AbortSignal): Promise<void> {
    if (!request.path) throw invalidArgument('export: no output path');
    if (request.references.length === 0) throw invalidArgument('export: no image named');
    const format = request.format || 'oci-archive';
    if (format !== 'oci-archive' && format !== 'docker-archive')
      throw invalidArgument(`export: unknown format ${JSON.stringify(format)} (oci-archive or docker-archive)`);
    await exportArchive(request.path, {
      content: this.deps.content.namespace(namespace),
      images: this.deps.images(namespace),
      references: request.references,
      format,
      platforms: platforms(request.platforms),
      allPlatforms: request.allPlatforms,
      progress,
      signal,
    });
  }

  async pull(namespace: string, request: PullRequest, progress: Progress, signal?: AbortSignal): Promise<void> {
    if (!request.reference) throw invalidArgument('pull: no image named');
    const { deps } = this;
    const leases = deps.leases(namespace);
    await withLease(leases, async (lease) => {
      const result = await pullImage(request.reference, {
        content: deps.content.namespace(namespace),
        images: deps.images(namespace),
        lease,
        hold: (digest) => leases.addResource(lease, { type: 'content', id: digest }),
        platforms: platforms(request.platforms),
        allPlatforms: request.allPlatforms,
        registry: registryOptions(request.registry),
        progress,
        signal,
        unpack: (manifests, arrivals, unpackSignal) => this.unpack(namespace, request, lease, manifests, progress, unpackSignal, arrivals),
      });
      progress({ event: 'pulled', name: result.name, current: 0, total: 0, message: result.target.digest });
    });
  }

  /**
   * Unpacks what an import or pull fetched (or is fetching: see unpack's arrivals), under its
   * lease, before the image is named (as the request asks).
   */
  private async unpack(
    namespace: string,
    request: { unpack: boolean; snapshotter: string },
    lease: string,
    manifests: Descriptor[],
    progress: Progress,
    signal: AbortSignal | undefined,
    arrivals?: Arrivals,
  ): Promise<void> {
    if (!request.unpack || !manifests.length) return;
    const leases = this.deps.leases(namespace);
    const target = await this.deps.unpackTarget(namespace, request.snapshotter, (resource) => leases.addResource(lease, resource));
    await unpackAll(target, manifests, progress, signal, arrivals);
  }

  async push(namespace: string, request: PushRequest, progress: Progress, signal?: AbortSignal): Promise<void> {
    if (!request.reference) throw invalidArgument('push: no image named');
    const platform = request.platform && (request.platform.os || request.platform.architecture) ? request.platform : undefined;
    const result = await pushImage(request.reference, request.target, {
      content: this.deps.content.namespace(namespace),
      images: this.deps.images(namespace),
      ...(platform && { platform }),
      registry: registryOptions(request.registry),
      progress,
      signal,
    });
    progress({ event: 'pushed-image', name: result.name, current: 0, total: 0, message: result.target.digest });
  }
}

/** Unpacks each manifest once, reporting each layer and each image's top chain id. */
async function unpackAll(
  target: UnpackTarget,
  manifests: Descriptor[],
  progress: Progress,
  signal?: AbortSignal,
  arrivals?: Arrivals,
): Promise<void> {
  const done = new Set<string>();
  for (const manifest of manifests) {
    if (done.has(manifest.digest)) continue;
    done.add(manifest.digest);
    const unpacked = await unpack(
      target,
      manifest,
      (p) => progress({ ...p, event: p.event === 'exists' ? 'unpacked' : p.event }),
      signal,
      arrivals,
    );
    progress({
      event: 'unpacked',
      name: manifest.digest,
      current: unpacked.applied,
      total: unpacked.applied + unpacked.existing,
      message: unpacked.chainId,
    });
  }
}
