/** Between the leases domain's shapes and the wire's. */
import { type WireTimestamp, fromTimestamp, toTimestamp } from '@ctl/proto/time';
import type { Lease } from './leases';

export interface WireLease {
  id: string;
  createdAt: WireTimestamp | null;
  labels: Record<string, string>;
}

export const leaseToWire = (l: Lease): WireLease => ({ id: l.id, createdAt: toTimestamp(l.createdAt), labels: l.labels });
export const leaseFromWire = (w: WireLease | null | undefined): Lease => ({
  id: w?.id ?? '',
  createdAt: fromTimestamp(w?.createdAt),
  labels: w?.labels ?? {},
});
