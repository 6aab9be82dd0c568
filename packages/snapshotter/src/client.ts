/**
 * The Snapshotter API over the light wire client, for one named driver of a snapshotter
 * service; a caller cannot tell it from the local one.
 */
import type { WireClient } from '@ctl/proto/wire';
import { wireMethod } from '@ctl/proto/wire';
import { type WireMount, mountFromWire } from '@ctl/runtime-native/mount';
import { type WireInfo, infoFromWire } from './convert';
import type { Cleaner, Info, Mount, Snapshotter, Usage } from './snapshotter';

const FILE = 'containerd/services/snapshots/v1/snapshots';
const SERVICE = 'containerd.services.snapshots.v1.Snapshots';
const method = <Req, Res>(name: string) => wireMethod<Req, Res>(FILE, SERVICE, name);

interface MountsResponse {
  mounts: WireMount[];
}

export class SnapshotsClient implements Snapshotter, Cleaner {
  constructor(
    private readonly wire: WireClient,
    readonly snapshotter: string,
  ) {}

  async stat(key: string): Promise<Info> {
    const res = await this.wire.unary(method<object, { info: WireInfo }>('Stat'), { snapshotter: this.snapshotter, key });
    return infoFromWire(res.info);
  }

  async update(info: Pick<Info, 'name' | 'labels'>, fieldpaths: string[] = []): Promise<Info> {
    const request = {
      snapshotter: this.snapshotter,
      info: { name: info.name, labels: info.labels },
      ...(fieldpaths.length ? { updateMask: { paths: fieldpaths } } : {}),
    };
    const res = await this.wire.unary(method<object, { info: WireInfo }>('Update'), request);
    return infoFromWire(res.info);
  }

  async usage(key: string): Promise<Usage> {
    const res = await this.wire.unary(method<object, Usage>('Usage'), { snapshotter: this.snapshotter, key });
    return { size: Number(res.size), inodes: Number(res.inodes) };
  }

  async mounts(key: string): Promise<Mount[]> {
    const res = await this.wire.unary(method<object, MountsResponse>('Mounts'), { snapshotter: this.snapshotter, key });
    return res.mounts.map(mountFromWire);
  }

  async prepare(key: string, parent: string, labels: Record<string, string> = {}): Promise<Mount[]> {
    const res = await this.wire.unary(method<object, MountsResponse>('Prepare'), { snapshotter: this.snapshotter, key, parent, labels });
    return res.mounts.map(mountFromWire);
  }

  async view(key: string, parent: string, labels: Record<string, string> = {}): Promise<Mount[]> {
    const res = await this.wire.unary(method<object, MountsResponse>('View'), { snapshotter: this.snapshotter, key, parent, labels });
    return res.mounts.map(mountFromWire);
  }

  async commit(name: string, key: string, labels: Record<string, string> = {}): Promise<void> {
    await this.wire.unary(method<object, object>('Commit'), { snapshotter: this.snapshotter, name, key, labels });
  }

  async remove(key: string): Promise<void> {
    await this.wire.unary(method<object, object>('Remove'), { snapshotter: this.snapshotter, key });
  }

  async walk(fn: (info: Info) => void | Promise<void>, filters: string[] = []): Promise<void> {
    const infos: Info[] = [];
    await this.wire.serverStream(method<object, { info: WireInfo[] }>('List'), { snapshotter: this.snapshotter, filters }, (m) => {
      infos.push(...m.info.map(infoFromWire));
    });
    for (const info of infos) await fn(info);
  }

  async cleanup(): Promise<void> {
    await this.wire.unary(method<object, object>('Cleanup'), { snapshotter: this.snapshotter });
  }
}
