/** Between the containers domain's shapes and the wire's (containerd.services.containers.v1.Container). */
import { type WireTimestamp, fromTimestamp, toTimestamp } from '@ctl/proto/time';
import { type WireAny, anyFromWire, anyToWire } from '../events/convert';
import type { Any, Container, NewContainer } from './containers';

export interface WireContainer {
  id: string;
  labels: Record<string, string>;
  image: string;
  runtime: { name: string; options: WireAny | null } | null;
  spec: WireAny | null;
  snapshotter: string;
  snapshotKey: string;
  createdAt: WireTimestamp | null;
  updatedAt: WireTimestamp | null;
  extensions: Record<string, WireAny>;
  sandbox: string;
}

/** What arrives from either client (all fields optional, nulls for absent messages). */
export type WireContainerIn = { [K in keyof WireContainer]?: WireContainer[K] | null | undefined };

const anyMap = <A, B>(m: Record<string, A> | null | undefined, f: (a: A) => B | undefined): Record<string, B> => {
  const out: Record<string, B> = {};
  for (const [k, v] of Object.entries(m ?? {})) {
    const b = f(v);
    if (b) out[k] = b;
  }
  return out;
};

export const containerToWire = (c: NewContainer | Container): WireContainer => ({
  id: c.id,
  labels: c.labels ?? {},
  image: c.image ?? '',
  runtime: { name: c.runtime?.name ?? '', options: c.runtime?.options ? anyToWire(c.runtime.options) : null },
  spec: c.spec ? anyToWire(c.spec) : null,
  snapshotter: c.snapshotter ?? '',
  snapshotKey: c.snapshotKey ?? '',
  createdAt: 'createdAt' in c && c.createdAt ? toTimestamp(c.createdAt) : null,
  updatedAt: 'updatedAt' in c && c.updatedAt ? toTimestamp(c.updatedAt) : null,
  extensions: anyMap(c.extensions, anyToWire),
  sandbox: c.sandbox ?? '',
});

/** The request's container as the store takes it (timestamps are the store's to set). */
export function newContainerFromWire(w: WireContainerIn): NewContainer {
  const options = anyFromWire(w.runtime?.options);
  const c: NewContainer = {
    id: w.id ?? '',
    labels: w.labels ?? {},
    image: w.image ?? '',
    runtime: options ? { name: w.runtime?.name ?? '', options } : { name: w.runtime?.name ?? '' },
    snapshotter: w.snapshotter ?? '',
    snapshotKey: w.snapshotKey ?? '',
    extensions: anyMap<Partial<WireAny>, Any>(w.extensions, anyFromWire),
  };
  const spec = anyFromWire(w.spec);
  if (spec) c.spec = spec;
  if (w.sandbox) c.sandbox = w.sandbox;
  return c;
}

export function containerFromWire(w: WireContainerIn | null | undefined): Container {
  const n = newContainerFromWire(w ?? {});
  const c: Container = {
    id: n.id,
    labels: n.labels!,
    image: n.image!,
    runtime: n.runtime!,
    snapshotter: n.snapshotter!,
    snapshotKey: n.snapshotKey!,
    extensions: n.extensions!,
    createdAt: fromTimestamp(w?.createdAt),
    updatedAt: fromTimestamp(w?.updatedAt),
  };
  if (n.spec) c.spec = n.spec;
  if (n.sandbox) c.sandbox = n.sandbox;
  return c;
}
