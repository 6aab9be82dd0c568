/** Between the domain's shapes and the wire's (Timestamps, Info); mounts' is '@ctl/runtime-native/mount'. */
import type { Info, Kind } from './snapshotter';

export interface WireTimestamp {
  seconds: number | string;
  nanos: number;
}

export interface WireInfo {
  name: string;
  parent: string;
  kind: string;
  createdAt: WireTimestamp | null;
  updatedAt: WireTimestamp | null;
  labels: Record<string, string>;
}

export const toTimestamp = (d: Date): WireTimestamp => ({ seconds: Math.floor(d.getTime() / 1000), nanos: (d.getTime() % 1000) * 1e6 });
export const fromTimestamp = (t: WireTimestamp | null | undefined): Date =>
  new Date(Number(t?.seconds ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6));

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
