/** The few kernel facts and tools the sized directories need: running tools, mounts, loop devices. */
import { EngineError, ErrorKind } from '@ctl/proto/errors';
import { execFile } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { type MountInfo, mountTable } from '@ctl/runtime-native/mount';

// mkfs.ext4, mount and losetup live in sbin, which a service's PATH (systemd units, CI runners)
// does not always include; the tools are called by name so a PATH that has them still wins.
const PATH = [process.env.PATH ?? '', '/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/bin', '/bin'].filter(Boolean).join(':');

export interface RunError extends EngineError {
  stderr: string;
}

/**
 * Runs a tool and resolves with its stdout; a failure becomes an EngineError of the given kind
 * whose message names the command and what it printed, e.g. `mount -o loop /x.img /x: <stderr>`.
 */
export function run(command: string, args: string[], kind: ErrorKind = ErrorKind.Internal): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { env: { ...process.env, PATH, LC_ALL: 'C' }, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const notInstalled = (err as NodeJS.ErrnoException).code === 'ENOENT';
      const cause = notInstalled ? `${command} is not installed` : stderr.trim() || err.message;
      const error = new EngineError(notInstalled ? ErrorKind.FailedPrecondition : kind, `${command} ${args.join(' ')}: ${cause}`, {
        cause: err,
      }) as RunError;
      error.stderr = stderr;
      reject(error);
    });
  });
}

/** The mounts on exactly this path, lowest first. */
export async function mountsAt(path: string): Promise<MountInfo[]> {
  return (await mountTable()).filter((m) => m.mountPoint === path);
}

/** The file behind a loop device ("/dev/loop3"), or undefined when it is not a bound loop device. */
export async function loopBackingFile(device: string): Promise<string | undefined> {
  const match = /^\/dev\/(loop\d+)$/.exec(device);
  if (!match) return undefined;
  try {
    // The kernel appends " (deleted)" when the file was unlinked while still attached.
    return (await readFile(`/sys/block/${match[1]}/loop/backing_file`, 'utf8')).replace(/\n$/, '').replace(/ \(deleted\)$/, '');
  } catch {
    return undefined;
  }
}

/** The bound loop devices ("/dev/loopN") and the file behind each. */
export async function loopDevices(): Promise<{ device: string; backing: string }[]> {
  const bound: { device: string; backing: string }[] = [];
  for (const name of await readdir('/sys/block').catch(() => [] as string[])) {
    if (!/^loop\d+$/.test(name)) continue;
    const backing = await loopBackingFile(`/dev/${name}`);
    if (backing) bound.push({ device: `/dev/${name}`, backing });
  }
  return bound;
}

/** The loop devices ("/dev/loopN") bound to exactly this file (an absolute, resolved path). */
export async function loopDevicesOf(file: string): Promise<string[]> {
  return (await loopDevices()).filter((l) => l.backing === file).map((l) => l.device);
}
