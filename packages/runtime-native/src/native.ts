/**
 * The native surface: the executables built by `npm run build:native` (node-gyp, binding.gyp),
 * and the other runc-compatible runtimes a container may run with. This is the one place that
 * knows where they are.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ErrorKind } from '@ctl/proto/errors';
import { RuntimeError } from './errors';

const PACKAGE_ROOT = path.join(__dirname, '..', '..');

export const RUNTIME_BINARY = path.join(PACKAGE_ROOT, 'build', 'Release', 'ctl-runtime');
export const SHIM_BINARY = path.join(PACKAGE_ROOT, 'build', 'Release', 'ctl-shim');
/** crun, run so that it accepts a hybrid cgroup layout (src/native/crun_wrap.c). */
export const CRUN_WRAPPER = path.join(PACKAGE_ROOT, 'build', 'Release', 'ctl-crun');

export function nativeBinaries(): { runtime: string; shim: string } {
  for (const b of [RUNTIME_BINARY, SHIM_BINARY]) {
    if (!fs.existsSync(b)) throw new RuntimeError(ErrorKind.Unavailable, `${b} is missing: run "npm run build" in packages/runtime-native`);
  }
  return { runtime: RUNTIME_BINARY, shim: SHIM_BINARY };
}

/**
 * Whose command line a runtime binary has. All take runc's; they differ where runc's is not
 * the whole story: crun has no `events` (stats are read by ctl-runtime from the cgroup).
 */
export type RuntimeFlavor = 'native' | 'runc' | 'crun';

/** The runtimes a container may name (`ctl run --runtime`); "runtime-native" is ctl-runtime, the default. */
export const RUNTIME_NAMES = ['runtime-native', 'runc', 'crun'] as const;

export interface RuntimeChoice {
  /** runtime-native, runc or crun */
  name: (typeof RUNTIME_NAMES)[number];
  flavor: RuntimeFlavor;
  /** what the shim and the wrapper run */
  binary: string;
}

/** An executable of this name in PATH (as execvp would find it), else undefined. */
export function inPath(name: string, envPath = process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin'): string | undefined {
  for (const dir of envPath.split(':').filter(Boolean)) {
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/**
 * The runtime a name stands for: "" or "runtime-native" (also "ctl-runtime") is ctl-runtime;
 * "runc" and "crun" are Debian's, from PATH (crun through ctl-crun). InvalidArgument for
 * another name, FailedPrecondition when the runtime is not installed.
 */
export function runtimeChoice(name: string): RuntimeChoice {
  if (name === '' || name === 'runtime-native' || name === 'ctl-runtime')
    return { name: 'runtime-native', flavor: 'native', binary: nativeBinaries().runtime };
  if (name !== 'runc' && name !== 'crun')
    throw new RuntimeError(ErrorKind.InvalidArgument, `unknown runtime "${name}": supported: ${RUNTIME_NAMES.join(', ')}`);
  const found = inPath(name);
  if (!found)
    throw new RuntimeError(ErrorKind.FailedPrecondition, `runtime ${name} is not installed on this host (no ${name} executable in PATH)`);
  if (name === 'runc') return { name, flavor: 'runc', binary: found };
  if (!fs.existsSync(CRUN_WRAPPER))
    throw new RuntimeError(ErrorKind.Unavailable, `${CRUN_WRAPPER} is missing: run "npm run build" in packages/runtime-native`);
  return { name, flavor: 'crun', binary: CRUN_WRAPPER };
}
