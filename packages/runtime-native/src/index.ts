/**
 * runtime-native: the OCI runtime seam. TypeScript builds and validates OCI specs and writes
 * bundles; the C runtime (ctl-runtime, runc's command line) and the per-container shim
 * (ctl-shim) execute them.
 */
export { OCI_VERSION, buildSpec } from './spec/builder';
export type { RunOptions } from './spec/builder';
export { validateSpec } from './spec/validate';
export { loadDefaultProfile, resolveProfile, DEFAULT_PROFILE_PATH } from './spec/seccomp';
export type { Profile, ProfileRule } from './spec/seccomp';
export * from './spec/defaults';
export type * from './spec/types';
export { writeBundle } from './bundle';
export { RuntimeError, SpecError, NATIVE_EXIT, kindFromNativeExit, kindFromForeignRuntimeMessage } from './errors';
export { RUNTIME_BINARY, SHIM_BINARY, CRUN_WRAPPER, RUNTIME_NAMES, nativeBinaries, runtimeChoice, inPath } from './native';
export type { RuntimeFlavor, RuntimeChoice } from './native';
export { Runtime, DEFAULT_ROOT, readLog } from './runtime';
export { Attachment } from './attach';
export type { State, Status, ExitStatus, CommandResult, RuntimeOptions, LogLine } from './runtime';
