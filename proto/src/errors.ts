/**
 * Engine errors carry a kind that survives wrapping; the kind, not the message, is what callers
 * and the gRPC boundary act on. This module has no transport imports so that domain code can
 * use it freely; status.ts maps kinds to gRPC codes.
 */
export enum ErrorKind {
  Unknown = 'Unknown',
  InvalidArgument = 'InvalidArgument',
  /** An offset or size outside what exists (a read past the end, a write at the wrong offset). */
  OutOfRange = 'OutOfRange',
  NotFound = 'NotFound',
  AlreadyExists = 'AlreadyExists',
  FailedPrecondition = 'FailedPrecondition',
  Unavailable = 'Unavailable',
  NotImplemented = 'NotImplemented',
  Canceled = 'Canceled',
  DeadlineExceeded = 'DeadlineExceeded',
  PermissionDenied = 'PermissionDenied',
  ResourceExhausted = 'ResourceExhausted',
  Aborted = 'Aborted',
  Internal = 'Internal',
}

/**
 * Finer than a kind, for callers that act on the difference (as google.rpc.ErrorInfo's reason):
 * it travels beside the gRPC status (status.ts), so that clients never match message text.
 */
export enum ErrorReason {
  /** NotFound: the image named has no record here (ctl run pulls it then). */
  ImageNotFound = 'ImageNotFound',
  /** The container's command (process.args[0]) does not exist, in PATH or at its path: docker's exit 127. */
  CommandNotFound = 'CommandNotFound',
  /** The container's command exists but cannot be executed (no execute bit, a directory): docker's exit 126. */
  CommandNotExecutable = 'CommandNotExecutable',
}

export class EngineError extends Error {
  readonly kind: ErrorKind;
  readonly reason?: ErrorReason;

  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown; reason?: ErrorReason }) {
    super(message, options);
    this.name = 'EngineError';
    this.kind = kind;
    if (options?.reason) this.reason = options.reason;
  }
}

/** The kind of any thrown value: an EngineError's own, or the first kind found along its causes. */
export function errorKind(err: unknown): ErrorKind {
  for (let e: unknown = err, depth = 0; e && depth < 16; depth++) {
    if (e instanceof EngineError) return e.kind;
    e = (e as { cause?: unknown }).cause;
  }
  return ErrorKind.Unknown;
}

/** The reason of any thrown value: the first one found along its causes (see ErrorReason). */
export function errorReason(err: unknown): ErrorReason | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 16; depth++) {
    if (e instanceof EngineError && e.reason) return e.reason;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export function isKind(err: unknown, kind: ErrorKind): boolean {
  return errorKind(err) === kind;
}

/** Adds context to an error's message while keeping its kind. */
export function wrap(err: unknown, context: string): EngineError {
  const message = err instanceof Error ? err.message : String(err);
  return new EngineError(errorKind(err), `${context}: ${message}`, { cause: err });
}

export const notFound = (message: string): EngineError => new EngineError(ErrorKind.NotFound, message);
export const alreadyExists = (message: string): EngineError => new EngineError(ErrorKind.AlreadyExists, message);
export const invalidArgument = (message: string): EngineError => new EngineError(ErrorKind.InvalidArgument, message);
export const outOfRange = (message: string): EngineError => new EngineError(ErrorKind.OutOfRange, message);
export const failedPrecondition = (message: string): EngineError => new EngineError(ErrorKind.FailedPrecondition, message);
export const unavailable = (message: string): EngineError => new EngineError(ErrorKind.Unavailable, message);
export const notImplemented = (message: string): EngineError => new EngineError(ErrorKind.NotImplemented, message);

/** True when the lookup succeeds, false when it fails with NotFound; any other failure passes through. */
export async function found(lookup: Promise<unknown>): Promise<boolean> {
  try {
    await lookup;
    return true;
  } catch (err) {
    if (isKind(err, ErrorKind.NotFound)) return false;
    throw err;
  }
}
