/** Between the content domain's shapes and the wire's (Timestamps, Info, Status). */
import type { Info, Status } from './content';

export interface WireTimestamp {
  seconds: number | string;
  nanos: number;
}

export interface WireInfo {
  digest: string;
  size: number | string;
  createdAt: WireTimestamp | null;
  updatedAt: WireTimestamp | null;
  labels: Record<string, string>;
}

export interface WireStatus {
  ref: string;
  offset: number | string;
  total: number | string;
  expected: string;
  startedAt: WireTimestamp | null;
  updatedAt: WireTimestamp | null;
}

export const toTimestamp = (d: Date): WireTimestamp => {
  const ms = d.getTime();
  return { seconds: Math.floor(ms / 1000), nanos: (((ms % 1000) + 1000) % 1000) * 1e6 };
};
export const fromTimestamp = (t: WireTimestamp | null | undefined): Date =>
  new Date(Number(t?.seconds ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6));

export const infoToWire = (i: Info): WireInfo => ({
  digest: i.digest,
  size: i.size,
  createdAt: toTimestamp(i.createdAt),
  updatedAt: toTimestamp(i.updatedAt),
  labels: i.labels,
});

export const infoFromWire = (w: WireInfo | null | undefined): Info => ({
  digest: w?.digest ?? '',
  size: Number(w?.size ?? 0),
  createdAt: fromTimestamp(w?.createdAt),
  updatedAt: fromTimestamp(w?.updatedAt),
  labels: w?.labels ?? {},
});

export const statusToWire = (s: Status): WireStatus => ({
  ref: s.ref,
  offset: s.offset,
  total: s.total,
  expected: s.expected,
  startedAt: toTimestamp(s.startedAt),
  updatedAt: toTimestamp(s.updatedAt),
});

export const statusFromWire = (w: WireStatus | null | undefined): Status => ({
  ref: w?.ref ?? '',
  offset: Number(w?.offset ?? 0),
  total: Number(w?.total ?? 0),
  expected: w?.expected ?? '',
  startedAt: fromTimestamp(w?.startedAt),
  updatedAt: fromTimestamp(w?.updatedAt),
});
