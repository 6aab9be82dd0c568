/**
 * The native surface: two executables built by `npm run build:native` (node-gyp, binding.gyp).
 * This is the one place that knows where they are.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RuntimeError } from './errors';

const PACKAGE_ROOT = path.join(__dirname, '..', '..');

export const RUNTIME_BINARY = path.join(PACKAGE_ROOT, 'build', 'Release', 'ctl-runtime');
export const SHIM_BINARY = path.join(PACKAGE_ROOT, 'build', 'Release', 'ctl-shim');

export function nativeBinaries(): { runtime: string; shim: string } {
  for (const b of [RUNTIME_BINARY, SHIM_BINARY]) {
    if (!fs.existsSync(b)) throw new RuntimeError('Unavailable', `${b} is missing: run "npm run build" in packages/runtime-native`);
  }
  return { runtime: RUNTIME_BINARY, shim: SHIM_BINARY };
}
