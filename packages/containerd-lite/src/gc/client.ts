/** ctl.gc.v1 over the light wire client: run a collection in containerd-lite now. */
import { type WireClient, wireMethod } from '@ctl/proto/wire';
import type { CollectResponse__Output } from '@ctl/proto/generated/ctl/gc/v1/CollectResponse';
import type { CollectResult, GarbageCollector } from './gc';

const method = () => wireMethod<object, CollectResponse__Output>('ctl/gc/v1/gc', 'ctl.gc.v1.GC', 'Collect');

export class GcClient implements GarbageCollector {
  constructor(private readonly wire: WireClient) {}

  async collect(): Promise<CollectResult> {
    const r = await this.wire.unary(method(), {});
    return {
      contentRemoved: Number(r.contentRemoved),
      blobsRemoved: Number(r.blobsRemoved),
      ingestsRemoved: Number(r.ingestsRemoved),
      snapshotsRemoved: Number(r.snapshotsRemoved),
      leasesRemoved: Number(r.leasesRemoved),
      bytesFreed: Number(r.bytesFreed),
      durationMs: Number(r.durationMs),
      errors: r.errors ?? [],
    };
  }
}
