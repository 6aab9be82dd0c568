/** The diff API over the light wire client (containerd.services.diff.v1), for tests and callers outside the daemon. */
import { NamespacedClient, wireMethod } from '@ctl/proto/wire';
import { type Mount, mountToWire } from '@ctl/runtime-native/mount';
import type { Descriptor } from '../oci';

const FILE = 'containerd/services/diff/v1/diff';
const SERVICE = 'containerd.services.diff.v1.Diff';

interface WireDescriptor {
  mediaType: string;
  digest: string;
  size: number | string;
  annotations?: Record<string, string>;
}

const fromWire = (d: WireDescriptor | null | undefined): Descriptor => ({
  mediaType: d?.mediaType ?? '',
  digest: d?.digest ?? '',
  size: Number(d?.size ?? 0),
});

export class DiffClient extends NamespacedClient {
  /** Applies a layer blob of the namespace's content onto mounts; returns the uncompressed layer's descriptor (digest = diff id). */
  async apply(diff: Descriptor, mounts: Mount[]): Promise<Descriptor> {
    const res = await this.wire.unary(
      wireMethod<object, { applied: WireDescriptor | null }>(FILE, SERVICE, 'Apply'),
      { diff, mounts: mounts.map(mountToWire) },
      this.options,
    );
    return fromWire(res.applied);
  }

  /** Writes the layer from left to right into the namespace's content; returns its descriptor. */
  async diff(
    left: Mount[],
    right: Mount[],
    options: { mediaType?: string; ref?: string; labels?: Record<string, string> } = {},
  ): Promise<Descriptor> {
    const request = {
      left: left.map(mountToWire),
      right: right.map(mountToWire),
      mediaType: options.mediaType ?? '',
      ref: options.ref ?? '',
      labels: options.labels ?? {},
    };
    const res = await this.wire.unary(wireMethod<object, { diff: WireDescriptor | null }>(FILE, SERVICE, 'Diff'), request, this.options);
    return fromWire(res.diff);
  }
}
