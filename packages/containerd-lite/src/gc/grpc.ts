/** The gRPC adapter of the collector (ctl.gc.v1.GC): run a collection now, answer its counts. */
import { type Contracts, type ServiceRegistration, unaryHandler } from '@ctl/proto';
import type { CollectResponse } from '@ctl/proto/generated/ctl/gc/v1/CollectResponse';
import type { GarbageCollector } from './gc';

export function gcRegistration(contracts: Contracts, collector: GarbageCollector): ServiceRegistration {
  return {
    definition: contracts.ctl.gc.v1.GC.service,
    implementation: {
      Collect: unaryHandler(async (): Promise<CollectResponse> => {
        const r = await collector.collect();
        return {
          contentRemoved: r.contentRemoved,
          blobsRemoved: r.blobsRemoved,
          ingestsRemoved: r.ingestsRemoved,
          snapshotsRemoved: r.snapshotsRemoved,
          leasesRemoved: r.leasesRemoved,
          bytesFreed: r.bytesFreed,
          durationMs: r.durationMs,
          errors: r.errors,
        };
      }),
    },
  };
}
