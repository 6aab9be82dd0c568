/** Between the events domain's shapes and the wire's (Envelope, Any). */
import type { Any } from '../containers/containers';
import { type WireTimestamp, fromTimestamp, toTimestamp } from '@ctl/proto/time';
import type { Envelope } from './events';

/** google.protobuf.Any as both clients give it (protobufjs keeps the well-known types' snake_case names). */
export interface WireAny {
  type_url: string;
  value: Buffer | Uint8Array;
}

export interface WireEnvelope {
  timestamp: WireTimestamp | null;
  namespace: string;
  topic: string;
  event: WireAny | null;
}

export const anyToWire = (a: Any): WireAny => ({ type_url: a.typeUrl, value: a.value });

/** Undefined for an absent Any (so that a field left unset stays unset). */
export const anyFromWire = (w: Partial<WireAny> | null | undefined): Any | undefined =>
  w ? { typeUrl: w.type_url ?? '', value: Buffer.from(w.value ?? Buffer.alloc(0)) } : undefined;

export const envelopeToWire = (e: Envelope): WireEnvelope => ({
  timestamp: toTimestamp(e.timestamp),
  namespace: e.namespace,
  topic: e.topic,
  event: anyToWire(e.event),
});

export const envelopeFromWire = (
  w: { timestamp?: WireTimestamp | null; namespace?: string; topic?: string; event?: Partial<WireAny> | null } | null | undefined,
): Envelope => ({
  timestamp: w?.timestamp ? fromTimestamp(w.timestamp) : new Date(0),
  namespace: w?.namespace ?? '',
  topic: w?.topic ?? '',
  event: anyFromWire(w?.event) ?? { typeUrl: '', value: Buffer.alloc(0) },
});
