/** The gRPC adapter of ctl.volumes.v1.Volumes. */
import { type Contracts, type ServiceRegistration, namespaceFromMetadata, unaryHandler } from '@ctl/proto';
import type { CreateVolumeRequest__Output } from '@ctl/proto/generated/ctl/volumes/v1/CreateVolumeRequest';
import type { GetVolumeRequest__Output } from '@ctl/proto/generated/ctl/volumes/v1/GetVolumeRequest';
import type { PruneVolumesRequest__Output } from '@ctl/proto/generated/ctl/volumes/v1/PruneVolumesRequest';
import type { RemoveVolumeRequest__Output } from '@ctl/proto/generated/ctl/volumes/v1/RemoveVolumeRequest';
import type { Volume as WireVolume } from '@ctl/proto/generated/ctl/volumes/v1/Volume';
import { toTimestamp } from '@ctl/proto/time';
import type { VolumeStore } from './store';
import type { Volume } from './volumes';

export const volumeToWire = (v: Volume): WireVolume => ({
  name: v.name,
  driver: v.driver,
  mountpoint: v.mountpoint,
  labels: v.labels,
  createdAt: toTimestamp(v.createdAt),
  anonymous: v.anonymous,
  usedBy: v.usedBy,
});

export function volumesRegistration(contracts: Contracts, store: VolumeStore): ServiceRegistration {
  const volumes = (call: { metadata: Parameters<typeof namespaceFromMetadata>[0] }) =>
    store.namespace(namespaceFromMetadata(call.metadata));
  return {
    definition: contracts.ctl.volumes.v1.Volumes.service,
    implementation: {
      Create: unaryHandler(async (req: CreateVolumeRequest__Output, call) => ({
        volume: volumeToWire(await volumes(call).create({ name: req.name, labels: req.labels, driver: req.driver })),
      })),
      Get: unaryHandler(async (req: GetVolumeRequest__Output, call) => ({ volume: volumeToWire(await volumes(call).get(req.name)) })),
      List: unaryHandler(async (_req: object, call) => ({ volumes: (await volumes(call).list()).map(volumeToWire) })),
      Remove: unaryHandler(async (req: RemoveVolumeRequest__Output, call) => {
        await volumes(call).remove(req.name, { force: req.force });
        return {};
      }),
      Prune: unaryHandler(async (req: PruneVolumesRequest__Output, call) => ({ removed: await volumes(call).prune({ all: req.all }) })),
    },
  };
}
