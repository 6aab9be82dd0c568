import { EngineError, ErrorKind, ErrorReason } from '@ctl/proto/errors';

/**
 * Errors of this package: EngineErrors (the engine's ErrorKind, which the gRPC boundary maps), so
 * a service can rethrow them as they are; `details` keeps what the runtime binary said.
 */
export class RuntimeError extends EngineError {
  constructor(
    kind: ErrorKind,
    message: string,
    readonly details: { field?: string; exitCode?: number; stderr?: string; reason?: ErrorReason } = {},
  ) {
    super(kind, message, details.reason ? { reason: details.reason } : undefined);
    this.name = 'RuntimeError';
  }
}

/** A spec that cannot run: names the field (dotted path, e.g. linux.namespaces[1].type). */
export class SpecError extends RuntimeError {
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(ErrorKind.InvalidArgument, `${field}: ${problem}`, { field });
    this.name = 'SpecError';
  }
}

/**
 * The exit codes of our native tools (ctl-runtime, ctl-shim's create, ctl-apply, ctl-diff) and the
 * kind each stands for: src/native/kinds.h, the one table on the C side. 1 is runc's only error
 * code; for our tools it means the input was refused.
 */
export const NATIVE_EXIT = {
  Ok: 0,
  InvalidArgument: 1,
  Usage: 2,
  FailedPrecondition: 3,
  ResourceExhausted: 4,
  NotFound: 5,
  Internal: 6,
  AlreadyExists: 7,
  PermissionDenied: 8,
} as const;

const KIND_OF_EXIT: Record<number, ErrorKind> = {
  [NATIVE_EXIT.InvalidArgument]: ErrorKind.InvalidArgument,
  [NATIVE_EXIT.Usage]: ErrorKind.InvalidArgument,
  [NATIVE_EXIT.FailedPrecondition]: ErrorKind.FailedPrecondition,
  [NATIVE_EXIT.ResourceExhausted]: ErrorKind.ResourceExhausted,
  [NATIVE_EXIT.NotFound]: ErrorKind.NotFound,
  [NATIVE_EXIT.Internal]: ErrorKind.Internal,
  [NATIVE_EXIT.AlreadyExists]: ErrorKind.AlreadyExists,
  [NATIVE_EXIT.PermissionDenied]: ErrorKind.PermissionDenied,
};

/** The kind a native tool's exit code reports; Internal for any other code (a signal, a crash). */
export function kindFromNativeExit(code: number | null): ErrorKind {
  return (code !== null && KIND_OF_EXIT[code]) || ErrorKind.Internal;
}

/**
 * runc and crun exit 1 whatever failed: only their messages tell the kind, in runc's canonical
 * phrases (go-runc and the containerd shim match them the same way). For those foreign runtimes
 * only; ctl-runtime reports its kind as its exit code.
 */
export function kindFromForeignRuntimeMessage(msg: string): ErrorKind {
  if (/does not exist|not found|no such file/i.test(msg)) return ErrorKind.NotFound;
  if (/already exists/i.test(msg)) return ErrorKind.AlreadyExists;
  if (/not running|still running|not stopped|paused|not paused|already started|stopped/i.test(msg)) return ErrorKind.FailedPrecondition;
  if (/config\.json|invalid|unknown|must be|required/i.test(msg)) return ErrorKind.InvalidArgument;
  return ErrorKind.Internal;
}

/**
 * Why the container's command could not be run, from the runtime's words when it has no reason
 * field (runc and crun, whose messages are Go's exec.LookPath errors); undefined for any other failure.
 */
export function reasonFromForeignRuntimeMessage(msg: string): ErrorReason | undefined {
  if (/exec(: "[^"]*"|utable file)[^\n]*(not found in \$PATH|no such file or directory)/i.test(msg)) return ErrorReason.CommandNotFound;
  if (/exec: "[^"]*":[^\n]*(permission denied|is a directory|exec format error)/i.test(msg)) return ErrorReason.CommandNotExecutable;
  return undefined;
}

/** The reason a ctl-runtime log line names (src/native/error.h's ctl_reason), when it is one of ours. */
export function reasonOf(name: unknown): ErrorReason | undefined {
  return Object.values(ErrorReason).includes(name as ErrorReason) ? (name as ErrorReason) : undefined;
}

/** The layer tools' names for their exit codes (kinds.h's EXIT_LAYER_* in apply_common.h). */
export const LAYER_EXIT = {
  Ok: NATIVE_EXIT.Ok,
  Invalid: NATIVE_EXIT.InvalidArgument, // malformed, truncated, corrupt or malicious layer: stderr names the entry and reason
  Usage: NATIVE_EXIT.Usage,
  DiffIdMismatch: NATIVE_EXIT.FailedPrecondition,
  NoSpace: NATIVE_EXIT.ResourceExhausted,
  NotFound: NATIVE_EXIT.NotFound, // input, target or tree missing
  Internal: NATIVE_EXIT.Internal,
} as const;
