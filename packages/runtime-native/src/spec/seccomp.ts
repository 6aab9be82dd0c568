/**
 * The default seccomp profile (profiles/seccomp-default.json, equivalent to Docker's default) and
 * its resolution into the OCI linux.seccomp object for one container: rules gated on
 * capabilities or architectures are kept or dropped here, so the C runtime only sees OCI fields.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Seccomp, SeccompArg, SeccompRule } from './types';

export interface ProfileRule {
  comment?: string;
  names: string[];
  action: string;
  errnoRet?: number;
  args?: SeccompArg[];
  /** kept only if the container has at least one of these capabilities */
  ifCaps?: string[];
  /** dropped if the container has any of these capabilities */
  unlessCaps?: string[];
  /** kept only on these Node architectures (process.arch) */
  arches?: string[];
  notArches?: string[];
}

export interface Profile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures: Record<string, string[]>;
  rules: ProfileRule[];
}

export const DEFAULT_PROFILE_PATH = path.join(__dirname, '..', '..', '..', 'profiles', 'seccomp-default.json');

let cached: Profile | undefined;

export function loadDefaultProfile(): Profile {
  cached ??= JSON.parse(fs.readFileSync(DEFAULT_PROFILE_PATH, 'utf8')) as Profile;
  return cached;
}

export function resolveProfile(profile: Profile, capabilities: readonly string[], arch: string = process.arch): Seccomp {
  const caps = new Set(capabilities);
  const syscalls: SeccompRule[] = [];
  for (const r of profile.rules) {
    if (r.ifCaps && !r.ifCaps.some((c) => caps.has(c))) continue;
    if (r.unlessCaps && r.unlessCaps.some((c) => caps.has(c))) continue;
    if (r.arches && !r.arches.includes(arch)) continue;
    if (r.notArches && r.notArches.includes(arch)) continue;
    const rule: SeccompRule = { names: [...r.names], action: r.action };
    if (r.errnoRet !== undefined) rule.errnoRet = r.errnoRet;
    if (r.args) rule.args = r.args.map((a) => ({ ...a }));
    syscalls.push(rule);
  }
  const out: Seccomp = { defaultAction: profile.defaultAction, syscalls };
  if (profile.defaultErrnoRet !== undefined) out.defaultErrnoRet = profile.defaultErrnoRet;
  const archs = profile.architectures[arch];
  if (archs) out.architectures = [...archs];
  return out;
}
