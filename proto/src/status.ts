/**
 * The one table between engine error kinds and gRPC status codes, as containerd's errdefs does
 * it. Codes are plain numbers (the gRPC spec's), so this module loads without @grpc/grpc-js.
 * Only adapters and clients call it.
 */
import { EngineError, ErrorKind, type ErrorReason, errorKind, errorReason } from './errors';

export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

const kindToCode: ReadonlyArray<readonly [ErrorKind, number]> = [
  [ErrorKind.Unknown, GrpcCode.UNKNOWN],
  [ErrorKind.InvalidArgument, GrpcCode.INVALID_ARGUMENT],
  [ErrorKind.OutOfRange, GrpcCode.OUT_OF_RANGE],
  [ErrorKind.NotFound, GrpcCode.NOT_FOUND],
  [ErrorKind.AlreadyExists, GrpcCode.ALREADY_EXISTS],
  [ErrorKind.FailedPrecondition, GrpcCode.FAILED_PRECONDITION],
  [ErrorKind.Unavailable, GrpcCode.UNAVAILABLE],
  [ErrorKind.NotImplemented, GrpcCode.UNIMPLEMENTED],
  [ErrorKind.Canceled, GrpcCode.CANCELLED],
  [ErrorKind.DeadlineExceeded, GrpcCode.DEADLINE_EXCEEDED],
  [ErrorKind.PermissionDenied, GrpcCode.PERMISSION_DENIED],
  [ErrorKind.ResourceExhausted, GrpcCode.RESOURCE_EXHAUSTED],
  [ErrorKind.Aborted, GrpcCode.ABORTED],
  [ErrorKind.Internal, GrpcCode.INTERNAL],
];

const codeByKind = new Map(kindToCode);
const kindByCode = new Map(kindToCode.map(([kind, code]) => [code, kind]));

export function grpcCodeOf(kind: ErrorKind): number {
  return codeByKind.get(kind) ?? GrpcCode.UNKNOWN;
}

export function kindOfGrpcCode(code: number): ErrorKind {
  return kindByCode.get(code) ?? ErrorKind.Unknown;
}

/** The trailer that carries an error's reason beside grpc-status and grpc-message. */
export const REASON_TRAILER = 'ctl-error-reason';

/** What a server sends for a thrown value: a status code, a message and its reason if any, never a stack. */
export function toGrpcStatus(err: unknown): { code: number; details: string; reason?: ErrorReason } {
  const details = err instanceof Error ? err.message : String(err);
  const reason = errorReason(err);
  return { code: grpcCodeOf(errorKind(err)), details, ...(reason ? { reason } : {}) };
}

/** Rebuilds the engine error a server sent, from a status code, message and reason. */
export function fromGrpcStatus(code: number, details: string, reason?: string): EngineError {
  return new EngineError(kindOfGrpcCode(code), details, reason ? { reason: reason as ErrorReason } : undefined);
}
