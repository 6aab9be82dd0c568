/**
 * Resolve a Docker-style user ("name", "uid", "name:group", "uid:gid") against the image's
 * /etc/passwd and /etc/group, as Docker does: numeric ids need no files; names must exist.
 * Supplementary groups are those listing the user by name in /etc/group.
 *
 * The files are read as the container would see them: symlinks resolve inside the rootfs (an
 * image, or a running container, may make /etc/passwd a link to anything), never to the host's.
 */
import * as fs from 'node:fs';
import { SpecError } from '../errors';
import { resolveInRootSync } from '../in-root';

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

/**
 * rootfs joined with an in-container path, every symlink on the way resolved as if rootfs were
 * "/" (".." stops at it): a path inside rootfs whatever the links say (as securejoin does).
 */
export function pathInRoot(rootfs: string, p: string): string {
  try {
    return resolveInRootSync(rootfs, p);
  } catch (err) {
    throw new SpecError('rootfs', (err as Error).message);
  }
}

/**
 * A regular file of the rootfs as text; undefined when there is none. O_NOFOLLOW: the last
 * component, checked above, may not become a link meanwhile; O_NONBLOCK: a FIFO placed there
 * is refused by the check on the open file, not waited on.
 */
function readInRoot(rootfs: string, p: string): string | undefined {
  const file = pathInRoot(rootfs, p);
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    return fs.fstatSync(fd).isFile() ? fs.readFileSync(fd, 'utf8') : undefined;
  } finally {
    fs.closeSync(fd);
  }
}

function readLines(rootfs: string, file: string): string[][] {
  return (readInRoot(rootfs, file) ?? '')
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(':'));
}

function passwd(rootfs: string): PasswdEntry[] {
  return readLines(rootfs, '/etc/passwd')
    .filter((f) => f.length >= 7)
    .map((f) => ({ name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] }));
}

function groups(rootfs: string): GroupEntry[] {
  return readLines(rootfs, '/etc/group')
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
    if (!entry) throw new SpecError('process.user', `unable to find user ${u}: no matching entries in passwd file`);
    uid = entry.uid;
  }
  const grps = groups(rootfs);
  let gid: number;
  if (g === undefined || g === '') gid = entry?.gid ?? (isNum(u) ? uid : 0);
  else if (isNum(g)) gid = Number(g);
  else {
    const ge = grps.find((x) => x.name === g);
    if (!ge) throw new SpecError('process.user', `unable to find group ${g}: no matching entries in group file`);
    gid = ge.gid;
  }
  const additionalGids = entry ? grps.filter((x) => x.members.includes(entry!.name) && x.gid !== gid).map((x) => x.gid) : [];
  return { uid, gid, additionalGids, home: entry?.home || '/' };
}
