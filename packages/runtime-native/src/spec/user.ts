/**
 * Resolve a Docker-style user ("name", "uid", "name:group", "uid:gid") against the image's
 * /etc/passwd and /etc/group, as Docker does: numeric ids need no files; names must exist.
 * Supplementary groups are those listing the user by name in /etc/group.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SpecError } from '../errors';

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

function readLines(file: string): string[][] {
  try {
    return fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split(':'));
  } catch {
    return [];
  }
}

function passwd(rootfs: string): PasswdEntry[] {
  return readLines(path.join(rootfs, 'etc', 'passwd'))
    .filter((f) => f.length >= 7)
    .map((f) => ({ name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] }));
}

function groups(rootfs: string): GroupEntry[] {
  return readLines(path.join(rootfs, 'etc', 'group'))
    .filter((f) => f.length >= 4)
    .map((f) => ({ name: f[0], gid: Number(f[2]), members: f[3] ? f[3].split(',') : [] }));
}

const isNum = (s: string) => /^\d+$/.test(s);

export function resolveUser(spec: string | undefined, rootfs: string): ResolvedUser {
  const [u, g] = (spec ?? '').split(':', 2) as [string, string | undefined];
  const users = passwd(rootfs);
  let entry: PasswdEntry | undefined;
  let uid: number;
  if (!u) {
    entry = users.find((p) => p.uid === 0);
    uid = 0;
  } else if (isNum(u)) {
    uid = Number(u);
    entry = users.find((p) => p.uid === uid);
  } else {
    entry = users.find((p) => p.name === u);
    if (!entry) throw new SpecError('process.user', `user "${u}" not found in the image's /etc/passwd`);
    uid = entry.uid;
  }
  const grps = groups(rootfs);
  let gid: number;
  if (g === undefined || g === '') gid = entry?.gid ?? (isNum(u) ? uid : 0);
  else if (isNum(g)) gid = Number(g);
  else {
    const ge = grps.find((x) => x.name === g);
    if (!ge) throw new SpecError('process.user', `group "${g}" not found in the image's /etc/group`);
    gid = ge.gid;
  }
  const additionalGids = entry ? grps.filter((x) => x.members.includes(entry!.name) && x.gid !== gid).map((x) => x.gid) : [];
  return { uid, gid, additionalGids, home: entry?.home || '/' };
}
