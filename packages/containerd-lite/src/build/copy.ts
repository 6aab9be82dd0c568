/**
 * TEMPORARY placeholder of copy.ts (another helper writes the real one; this file goes at the
 * merge). Same signatures; no globs, no archive extraction, `cp -a` underneath.
 */
import { invalidArgument } from '@ctl/proto/errors';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CopyRequest {
  sourceRoot: string;
  sources: string[];
  rootfs: string;
  dest: string;
  workdir: string;
  chown?: { uid: number; gid: number };
  chmod?: number;
  add: boolean;
}

function source(root: string, s: string): string {
  const path = join(root, posix.normalize(`/${s}`));
  if (!existsSync(path)) throw invalidArgument(`"${s}": not found in the build context`);
  return path;
}

export async function copyInto(r: CopyRequest): Promise<void> {
  const destPath = posix.resolve(r.workdir || '/', r.dest);
  const toDir = r.dest.endsWith('/') || r.sources.length > 1;
  for (const s of r.sources) {
    const from = source(r.sourceRoot, s);
    const isDir = lstatSync(from).isDirectory();
    const target = join(r.rootfs, isDir || !toDir ? destPath : posix.join(destPath, posix.basename(s)));
    await mkdir(isDir ? target : dirname(target), { recursive: true });
    await run('cp', ['-a', isDir ? `${from}/.` : from, target]);
    if (r.chown) await run('chown', ['-R', `${r.chown.uid}:${r.chown.gid}`, target]);
    if (r.chmod !== undefined) await run('chmod', ['-R', r.chmod.toString(8), target]);
  }
}

function lookup(file: string, name: string): number | undefined {
  if (/^\d+$/.test(name)) return Number(name);
  if (!existsSync(file)) return undefined;
  const line = readFileSync(file, 'utf8')
    .split('\n')
    .find((l) => l.split(':')[0] === name);
  return line ? Number(line.split(':')[2]) : undefined;
}

export function resolveChown(rootfs: string, spec: string): { uid: number; gid: number } {
  const [user = '', group] = spec.split(':');
  const uid = lookup(join(rootfs, 'etc/passwd'), user);
  if (uid === undefined) throw invalidArgument(`--chown ${spec}: no user ${user}`);
  const gid = group ? lookup(join(rootfs, 'etc/group'), group) : uid;
  if (gid === undefined) throw invalidArgument(`--chown ${spec}: no group ${group}`);
  return { uid, gid };
}

export async function hashSources(r: { sourceRoot: string; sources: string[] }): Promise<string> {
  const hash = createHash('sha256');
  const walk = (path: string, rel: string): void => {
    const st = lstatSync(path);
    hash.update(`${rel}\0${st.mode}\0${st.uid}:${st.gid}\0`);
    if (st.isSymbolicLink()) hash.update(readlinkSync(path));
    else if (st.isDirectory()) for (const e of readdirSync(path).sort()) walk(join(path, e), `${rel}/${e}`);
    else hash.update(readFileSync(path));
  };
  for (const s of r.sources) walk(source(r.sourceRoot, s), s);
  return `sha256:${hash.digest('hex')}`;
}
