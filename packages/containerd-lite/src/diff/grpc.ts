/**
 * The gRPC adapter of the diff service (containerd.services.diff.v1.Diff). Layer blobs come
 * from the content store of the call's namespace; a Diff result is written into it, held by
 * the call's lease (containerd-lease header) like any other content write.
 */
import { type Contracts, type ServiceRegistration, namespaceFromMetadata, unaryHandler } from '@ctl/proto';
import { invalidArgument } from '@ctl/proto/errors';
import type { ApplyRequest__Output } from '@ctl/proto/generated/containerd/services/diff/v1/ApplyRequest';
import type { DiffRequest__Output } from '@ctl/proto/generated/containerd/services/diff/v1/DiffRequest';
import { type WireMount, mountFromWire } from '@ctl/runtime-native/mount';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeBlob } from '../content/helpers';
import type { ContentStore } from '../content/store';
import { ensureDir } from '@ctl/proto/fsutil';
import { Label, MediaType } from '../oci';
import { leaseFromMetadata } from '../leases/leases';
import type { Differ } from './differ';

const mounts = (wire: WireMount[] | null | undefined) => (wire ?? []).map(mountFromWire);

export function diffRegistration(contracts: Contracts, content: ContentStore, differ: Differ, tmpRoot: string): ServiceRegistration {
  return {
    definition: contracts.containerd.services.diff.v1.Diff.service,
    implementation: {
      Apply: unaryHandler(async (req: ApplyRequest__Output, call) => {
        const desc = req.diff;
        if (!desc?.digest) throw invalidArgument('apply: no diff descriptor');
        const ns = content.namespace(namespaceFromMetadata(call.metadata));
        await ns.info(desc.digest);
        const applied = await differ.apply(content.blobPath(desc.digest), desc.mediaType, mounts(req.mounts as WireMount[]));
        return { applied: { mediaType: MediaType.ociLayer, digest: applied.diffId, size: applied.size, annotations: {} } };
      }),
      Diff: unaryHandler(async (req: DiffRequest__Output, call) => {
        const mediaType = req.mediaType || MediaType.ociLayerGzip;
        const ns = content.namespace(namespaceFromMetadata(call.metadata));
        ensureDir(tmpRoot);
        const dir = await mkdtemp(join(tmpRoot, 'diff-'));
        try {
          const output = join(dir, 'layer');
          const result = await differ.diff(mounts(req.left as WireMount[]), mounts(req.right as WireMount[]), mediaType, output);
          const labels = { ...req.labels, [Label.uncompressed]: result.diffId };
          const ref = req.ref || `diff-${result.digest}`;
          await writeBlob(ns, ref, (offset) => createReadStream(output, { start: offset }), {
            total: result.size,
            expected: result.digest,
            labels,
            lease: leaseFromMetadata(call.metadata),
          });
          return { diff: { mediaType, digest: result.digest, size: result.size, annotations: {} } };
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      }),
    },
  };
}
