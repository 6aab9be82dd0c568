/**
 * The host's devices, which a privileged container gets as docker and podman give them: every
 * character and block device node under /dev becomes one of the spec's linux.devices (the
 * runtime makes each with mknod, or binds the host's node in a user namespace), and the device
 * cgroup allows all.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Device, DeviceRule } from './types';

/**
 * Directories under /dev that are not the host's devices to copy: the container mounts its own
 * (pts, shm, mqueue), /dev/fd is a link into /proc, and the rest are other tools' private state
 * (lxc, lxd, udev's database).
 */
const SKIPPED_DIRS = new Set(['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev']);

/** Linux's dev_t: major in bits 8-19 and 32-43, minor in bits 0-7 and 20-31. */
export function deviceNumbers(rdev: bigint): { major: number; minor: number } {
  return {
    major: Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & 0xfffff000n)),
    minor: Number((rdev & 0xffn) | ((rdev >> 12n) & 0xffffff00n)),
  };
}

/**
 * The character and block devices under `dir` (recursively, symlinks not followed), named by
 * their path under /dev, with the host node's mode and owner. /dev/console is left out: the
 * runtime gives the container its own console. A node that vanishes meanwhile is skipped.
 */
export function hostDevices(dir = '/dev', containerDir = '/dev'): Device[] {
  const out: Device[] = [];
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const host = path.join(dir, entry.name);
    const inContainer = path.posix.join(containerDir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIPPED_DIRS.has(entry.name)) out.push(...hostDevices(host, inContainer));
      continue;
    }
    if ((!entry.isCharacterDevice() && !entry.isBlockDevice()) || inContainer === '/dev/console') continue;
    let st: fs.BigIntStats;
    try {
      st = fs.lstatSync(host, { bigint: true });
    } catch {
      continue;
    }
    out.push({
      type: st.isBlockDevice() ? 'b' : 'c',
      path: inContainer,
      ...deviceNumbers(st.rdev),
      fileMode: Number(st.mode & 0o7777n),
      uid: Number(st.uid),
      gid: Number(st.gid),
    });
  }
  return out;
}

/** The device cgroup of a privileged container: everything allowed. */
export function allowAllDevices(): DeviceRule[] {
  return [{ allow: true, access: 'rwm' }];
}
