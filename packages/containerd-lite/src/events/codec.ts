/**
 * containerd.events.* messages in and out of Anys, with the static codecs only (no grpc-js,
 * no descriptor), so the command line can decode what it subscribes to. The type URL of an
 * event is its message's full name ("containerd.events.TaskExit"), as containerd writes it.
 */
import { invalidArgument } from '@ctl/proto/errors';
import { type WireType, wireType } from '@ctl/proto/wire';
import type { Any } from '../containers/containers';

const EVENTS_FILE = 'containerd/events/messages';
const EVENTS_PACKAGE = 'containerd.events.';

/** A decoded event: its message name and fields (camelCase, timestamps as Dates). */
export interface DecodedEvent {
  type: string;
  fields: Record<string, unknown>;
}

const codecs = new Map<string, WireType<Record<string, unknown>> | undefined>();

function codec(type: string): WireType<Record<string, unknown>> | undefined {
  if (!type.startsWith(EVENTS_PACKAGE) || !/^[A-Za-z0-9_.]+$/.test(type)) return undefined;
  if (!codecs.has(type)) codecs.set(type, wireType<Record<string, unknown>>(EVENTS_FILE, type));
  return codecs.get(type);
}

/** The event types this build knows (containerd.events.*). */
export function isKnownEventType(type: string): boolean {
  return codec(type) !== undefined;
}

const isAny = (o: object, url: string): boolean => {
  const keys = Object.keys(o);
  return keys.length === 2 && keys.includes(url) && keys.includes('value');
};

// Dates become google.protobuf.Timestamp objects and Anys the codecs' { type_url, value };
// everything else passes as it is.
function toWire(value: unknown): unknown {
  if (value instanceof Date) {
    const ms = value.getTime();
    const seconds = Math.floor(ms / 1000);
    return { seconds, nanos: (ms - seconds * 1000) * 1e6 };
  }
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return value.map(toWire);
  if (value && typeof value === 'object') {
    if (isAny(value, 'typeUrl')) return { type_url: (value as Any).typeUrl, value: (value as Any).value };
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toWire(v)]));
  }
  return value;
}

// Timestamps (an object of exactly seconds and nanos) come back as Dates, Anys as Any.
function fromWire(value: unknown): unknown {
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return value.map(fromWire);
  if (value && typeof value === 'object') {
    if (isAny(value, 'type_url')) {
      const a = value as { type_url: string; value: Uint8Array };
      return { typeUrl: a.type_url, value: Buffer.from(a.value) } satisfies Any;
    }
    const keys = Object.keys(value);
    if (keys.length === 2 && keys.includes('seconds') && keys.includes('nanos')) {
      const t = value as { seconds: number | string; nanos: number };
      return new Date(Number(t.seconds) * 1000 + Math.floor(Number(t.nanos) / 1e6));
    }
    // Absent message fields (null) are left out.
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== null && v !== undefined)
        .map(([k, v]) => [k, fromWire(v)]),
    );
  }
  return value;
}

/**
 * Encodes the fields (camelCase, as in the generated types; Dates for timestamps) of the
 * containerd.events message `type` into an Any (Anys inside as { typeUrl, value }).
 * InvalidArgument for a type this build lacks.
 */
export function encodeEvent(type: string, fields: Record<string, unknown>): Any {
  const c = codec(type);
  if (!c) throw invalidArgument(`unknown event type "${type}"`);
  return { typeUrl: type, value: Buffer.from(c.encode(toWire(fields) as Record<string, unknown>)) };
}

/**
 * Decodes an event Any of a containerd.events type (a "types.googleapis.com/" prefix is
 * accepted too); InvalidArgument for another type or bytes that do not decode.
 */
export function decodeEvent(any: Any): DecodedEvent {
  const type = any.typeUrl.slice(any.typeUrl.lastIndexOf('/') + 1);
  const c = codec(type);
  if (!c) throw invalidArgument(`unknown event type "${any.typeUrl}"`);
  try {
    return { type, fields: fromWire(c.decode(any.value)) as Record<string, unknown> };
  } catch (err) {
    throw invalidArgument(`event of type "${type}" does not decode: ${(err as Error).message}`);
  }
}
