/** Between the tasks domain's shapes and the wire's (containerd.v1.types.Process, Metric, Any). */
import { invalidArgument } from '@ctl/proto/errors';
import { type WireTimestamp, fromTimestamp, toTimestamp } from '@ctl/proto/time';
import { type ExitResult, type Metric, type ProcessState, STATS_TYPE_URL, type TaskStatus } from './tasks';

/**
 * google.protobuf.Any as the codecs see it: protobufjs keeps Any's field as `type_url` (its
 * common types are not camel-cased), so both spellings are written and either is read.
 */
export interface WireAny {
  typeUrl?: string;
  type_url?: string;
  value: Buffer | Uint8Array;
}

const anyOf = (typeUrl: string, value: Buffer): WireAny => ({ typeUrl, type_url: typeUrl, value });

export interface WireProcess {
  containerId: string;
  id: string;
  pid: number;
  status: string;
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
  exitStatus: number;
  exitedAt: WireTimestamp | null;
}

export interface WireExit {
  id?: string;
  pid?: number;
  exitStatus: number;
  exitedAt: WireTimestamp | null;
}

export interface WireMetric {
  timestamp: WireTimestamp | null;
  id: string;
  data: WireAny | null;
}

// containerd names a task's init process by its container's id (clients such as ctr's
// `containers rm` take the id of the process Get returns as the task's); ours is "".
export const processToWire = (p: ProcessState): WireProcess => ({
  containerId: p.containerId,
  id: p.id || p.containerId,
  pid: p.pid,
  status: p.status,
  stdin: p.stdin,
  stdout: p.stdout,
  stderr: p.stderr,
  terminal: p.terminal,
  exitStatus: p.exitStatus,
  exitedAt: p.exitedAt ? toTimestamp(p.exitedAt) : null,
});

export const processFromWire = (w: WireProcess | null | undefined): ProcessState => ({
  containerId: w?.containerId ?? '',
  id: w?.id && w.id !== w.containerId ? w.id : '',
  pid: w?.pid ?? 0,
  status: (w?.status ?? 'UNKNOWN') as TaskStatus,
  stdin: w?.stdin ?? '',
  stdout: w?.stdout ?? '',
  stderr: w?.stderr ?? '',
  terminal: w?.terminal ?? false,
  exitStatus: w?.exitStatus ?? 0,
  ...(w?.exitedAt && (Number(w.exitedAt.seconds) || w.exitedAt.nanos) ? { exitedAt: fromTimestamp(w.exitedAt) } : {}),
});

export const exitToWire = (e: ExitResult): WireExit => ({
  id: e.id,
  pid: e.pid,
  exitStatus: e.exitStatus,
  exitedAt: toTimestamp(e.exitedAt),
});

export const exitFromWire = (w: WireExit, id: string): ExitResult => ({
  id: w.id || id,
  pid: w.pid ?? 0,
  exitStatus: w.exitStatus ?? 0,
  exitedAt: fromTimestamp(w.exitedAt),
});

export const metricToWire = (m: Metric): WireMetric => ({
  timestamp: toTimestamp(m.timestamp),
  id: m.id,
  data: anyOf(STATS_TYPE_URL, Buffer.from(JSON.stringify(m.data))),
});

export const metricFromWire = (w: WireMetric): Metric => ({
  id: w.id,
  timestamp: fromTimestamp(w.timestamp),
  data: w.data?.value?.length ? (JSON.parse(Buffer.from(w.data.value).toString('utf8')) as Record<string, unknown>) : {},
});

/** A JSON value carried in an Any (Exec's process spec, Update's resources). */
export function jsonFromAny(a: WireAny | null | undefined, what: string): Record<string, unknown> {
  if (!a?.value?.length) return {};
  try {
    return JSON.parse(Buffer.from(a.value).toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    throw invalidArgument(`${what}: not JSON: ${(err as Error).message}`);
  }
}

export const jsonToAny = (typeUrl: string, v: unknown): WireAny => anyOf(typeUrl, Buffer.from(JSON.stringify(v)));
