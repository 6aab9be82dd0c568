/** Between the images domain's shapes and the wire's (containerd.types.Descriptor, Image). */
import type { Descriptor } from '../oci';
import { type WireTimestamp, fromTimestamp, toTimestamp } from '@ctl/proto/time';
import type { Image } from './images';

export interface WireDescriptor {
  mediaType: string;
  digest: string;
  size: number | string;
  annotations: Record<string, string>;
}

export interface WireImage {
  name: string;
  labels: Record<string, string>;
  target: WireDescriptor | null;
  createdAt: WireTimestamp | null;
  updatedAt: WireTimestamp | null;
}

export const descriptorToWire = (d: Descriptor): WireDescriptor => ({
  mediaType: d.mediaType,
  digest: d.digest,
  size: d.size,
  annotations: d.annotations ?? {},
});

/** Undefined for an absent target, so that validation can say so. */
export function descriptorFromWire(w: Partial<WireDescriptor> | null | undefined): Descriptor | undefined {
  if (!w) return undefined;
  const d: Descriptor = { mediaType: w.mediaType ?? '', digest: w.digest ?? '', size: Number(w.size ?? 0) };
  if (w.annotations && Object.keys(w.annotations).length) d.annotations = w.annotations;
  return d;
}

export const imageToWire = (i: Image): WireImage => ({
  name: i.name,
  labels: i.labels,
  target: descriptorToWire(i.target),
  createdAt: toTimestamp(i.createdAt),
  updatedAt: toTimestamp(i.updatedAt),
});

export const imageFromWire = (w: WireImage | null | undefined): Image => ({
  name: w?.name ?? '',
  labels: w?.labels ?? {},
  target: descriptorFromWire(w?.target) ?? { mediaType: '', digest: '', size: 0 },
  createdAt: fromTimestamp(w?.createdAt),
  updatedAt: fromTimestamp(w?.updatedAt),
});
