/** Between the content domain's shapes and the wire's (Info, Status); times with '@ctl/proto/time' (nanoseconds). */
import { type WireTimestamp, fromTimestamp, toTimestamp } from '@ctl/proto/time';
import type { Info, Status } from './content';

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
