/** ctl.volumes.v1 over the light wire client, for the command line: the Volumes interface, remote. */
import { NamespacedClient, wireMethod } from '@ctl/proto/wire';
import type { CreateVolumeRequest } from '@ctl/proto/generated/ctl/volumes/v1/CreateVolumeRequest';
import type { CreateVolumeResponse__Output } from '@ctl/proto/generated/ctl/volumes/v1/CreateVolumeResponse';
import type { GetVolumeRequest } from '@ctl/proto/generated/ctl/volumes/v1/GetVolumeRequest';
import type { GetVolumeResponse__Output } from '@ctl/proto/generated/ctl/volumes/v1/GetVolumeResponse';
import type { ListVolumesResponse__Output } from '@ctl/proto/generated/ctl/volumes/v1/ListVolumesResponse';
import type { PruneVolumesRequest } from '@ctl/proto/generated/ctl/volumes/v1/PruneVolumesRequest';
import type { PruneVolumesResponse__Output } from '@ctl/proto/generated/ctl/volumes/v1/PruneVolumesResponse';
import type { RemoveVolumeRequest } from '@ctl/proto/generated/ctl/volumes/v1/RemoveVolumeRequest';
import type { Volume__Output } from '@ctl/proto/generated/ctl/volumes/v1/Volume';
import { fromTimestamp } from '@ctl/proto/time';
import type { NewVolume, Volume, Volumes } from './volumes';

const FILE = 'ctl/volumes/v1/volumes';
const SERVICE = 'ctl.volumes.v1.Volumes';

const fromWire = (v: Volume__Output | null): Volume => ({
  name: v?.name ?? '',
  driver: v?.driver ?? '',
  mountpoint: v?.mountpoint ?? '',
  labels: v?.labels ?? {},
  createdAt: fromTimestamp(v?.createdAt),
  anonymous: Boolean(v?.anonymous),
  usedBy: v?.usedBy ?? [],
});

export class VolumesClient extends NamespacedClient implements Volumes {
  async create(volume: NewVolume): Promise<Volume> {
    const res = await this.wire.unary(
      wireMethod<CreateVolumeRequest, CreateVolumeResponse__Output>(FILE, SERVICE, 'Create'),
      { name: volume.name ?? '', labels: volume.labels ?? {}, driver: volume.driver ?? '' },
      this.options,
    );
    return fromWire(res.volume);
  }

  async get(name: string): Promise<Volume> {
    const res = await this.wire.unary(
      wireMethod<GetVolumeRequest, GetVolumeResponse__Output>(FILE, SERVICE, 'Get'),
      { name },
      this.options,
    );
    return fromWire(res.volume);
  }

  async list(): Promise<Volume[]> {
    const res = await this.wire.unary(wireMethod<object, ListVolumesResponse__Output>(FILE, SERVICE, 'List'), {}, this.options);
    return res.volumes.map(fromWire);
  }

  async remove(name: string, options: { force?: boolean } = {}): Promise<void> {
    await this.wire.unary(
      wireMethod<RemoveVolumeRequest, object>(FILE, SERVICE, 'Remove'),
      { name, force: Boolean(options.force) },
      this.options,
    );
  }

  async prune(options: { all?: boolean } = {}): Promise<string[]> {
    const res = await this.wire.unary(
      wireMethod<PruneVolumesRequest, PruneVolumesResponse__Output>(FILE, SERVICE, 'Prune'),
      { all: Boolean(options.all) },
      this.options,
    );
    return res.removed;
  }
}
