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
