import { ErrorKind as EngineErrorKind } from '@ctl/proto/errors';

/** Errors of this package. The kind survives wrapping and maps to gRPC status in the adapters. */
export type ErrorKind = 'InvalidArgument' | 'NotFound' | 'AlreadyExists' | 'FailedPrecondition' | 'Unavailable' | 'Internal';

export class RuntimeError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly details: { field?: string; exitCode?: number; stderr?: string } = {},
  ) {
    super(message);
    this.name = 'RuntimeError';
  }
}

/** A spec that cannot run: names the field (dotted path, e.g. linux.namespaces[1].type). */
export class SpecError extends RuntimeError {
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super('InvalidArgument', `${field}: ${problem}`, { field });
    this.name = 'SpecError';
  }
}

/** Map the runtime's canonical runc messages to kinds (go-runc and the containerd shim do the same). */
export function kindFromRuntimeMessage(msg: string): ErrorKind {
  if (/does not exist|not found|no such file/i.test(msg)) return 'NotFound';
  if (/already exists/i.test(msg)) return 'AlreadyExists';
  if (/not running|still running|not stopped|paused|not paused|already started|stopped/i.test(msg)) return 'FailedPrecondition';
  if (/config\.json|invalid|unknown|must be|required/i.test(msg)) return 'InvalidArgument';
  return 'Internal';
}

/**
 * Exit codes of ctl-apply and ctl-diff (src/native/apply_common.h) and the engine error kind each
 * stands for. The one place that maps them; the stderr text becomes the message.
 */
export const LAYER_EXIT = {
  Ok: 0,
  Invalid: 1, // malformed, truncated, corrupt or malicious layer: stderr names the entry and reason
  Usage: 2,
  DiffIdMismatch: 3,
  NoSpace: 4,
  NotFound: 5, // input, target or tree missing
  Internal: 6,
} as const;

export function kindFromLayerExit(code: number | null): EngineErrorKind {
  switch (code) {
    case LAYER_EXIT.Invalid:
    case LAYER_EXIT.Usage:
      return EngineErrorKind.InvalidArgument;
    case LAYER_EXIT.DiffIdMismatch:
      return EngineErrorKind.FailedPrecondition;
    case LAYER_EXIT.NoSpace:
      return EngineErrorKind.ResourceExhausted;
    case LAYER_EXIT.NotFound:
      return EngineErrorKind.NotFound;
    default:
      return EngineErrorKind.Internal;
  }
}
