/**
 * Between the domain's shapes and the wire's (Info); times convert with '@ctl/proto/time' (nanoseconds),
 * mounts with '@ctl/runtime-native/mount'.
 */
import { type WireTimestamp, fromTimestamp, toTimestamp } from '@ctl/proto/time';
import type { Info, Kind } from './snapshotter';

export interface WireInfo {
  name: string;
  parent: string;
  kind: string;
  createdAt: WireTimestamp | null;
  updatedAt: WireTimestamp | null;
  labels: Record<string, string>;
}

export const infoToWire = (i: Info): WireInfo => ({
  name: i.name,
  parent: i.parent,
  kind: i.kind,
  createdAt: toTimestamp(i.createdAt),
  updatedAt: toTimestamp(i.updatedAt),
  labels: i.labels,
});

export const infoFromWire = (w: WireInfo): Info => ({
  name: w.name,
  parent: w.parent,
  // containerd's proxy treats anything but ACTIVE and VIEW as committed; so do we.
  kind: (w.kind === 'ACTIVE' || w.kind === 'VIEW' ? w.kind : 'COMMITTED') as Kind,
  createdAt: fromTimestamp(w.createdAt),
  updatedAt: fromTimestamp(w.updatedAt),
  labels: w.labels ?? {},
});
