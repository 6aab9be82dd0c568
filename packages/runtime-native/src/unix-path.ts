/**
 * A connection to a unix socket at a path of any length. sun_path holds 107 bytes, and a shim's
 * socket under a long namespace and container id lies deeper; such a path is reached through its
 * directory's fd ("/proc/self/fd/N/name"), as the shim binds it (native/unix_path.c).
 */
import { closeSync, openSync } from 'node:fs';
import type * as Net from 'node:net';
import { basename, dirname } from 'node:path';

/** node:net, loaded at the first connection: the command line's attach uses its own socket. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const net = (): typeof Net => require('node:net') as typeof Net;

const SUN_PATH_MAX = 107;

export function connectUnix(socketPath: string, onConnect?: () => void): Net.Socket {
  if (Buffer.byteLength(socketPath) <= SUN_PATH_MAX) return net().createConnection(socketPath, onConnect);
  let dir: number | undefined;
  try {
    dir = openSync(dirname(socketPath), 'r');
  } catch (err) {
    // As a connect to a missing socket fails: asynchronously, through 'error'.
    const sock = new (net().Socket)();
    process.nextTick(() => sock.destroy(err as Error));
    return sock;
  }
  const release = (): void => {
    if (dir !== undefined) closeSync(dir);
    dir = undefined;
  };
  const sock = net().createConnection(`/proc/self/fd/${dir}/${basename(socketPath)}`, onConnect);
  sock.once('connect', release);
  sock.once('close', release);
  return sock;
}
