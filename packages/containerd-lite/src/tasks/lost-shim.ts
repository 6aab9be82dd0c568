/**
 * Shims that died without recording their process's exit (SIGKILLed, crashed): nothing else
 * would ever write exit.json, so Wait, stop and ps would wait for it forever. As containerd does
 * for a lost shim (cleanupAfterDeadShim: the runtime's `delete --force`, then TaskExit with
 * status 255 when the shim could not tell the real one), the container's processes are killed
 * and removed through the runtime, and the exit is recorded as 255, "shim disconnected"; the
 * watchers then announce it and release every waiter as for any exit.
 */
import type { Logger } from '@ctl/proto';
import { writeJsonAtomic } from '@ctl/proto/fsutil';
import type { ExitStatus } from '@ctl/runtime-native';
import * as path from 'node:path';
import type { ShimProcess } from './process';
import type { Task } from './task';

export const LOST_SHIM_STATUS = 255;

/** Records the exit of a process whose shim is gone: 255, with the reason. */
export function recordLostExit(p: ShimProcess, error: string): void {
  const exit: ExitStatus = {
    pid: p.pid,
    exitStatus: LOST_SHIM_STATUS,
    signal: 0,
    oomKilled: false,
    exitedAt: new Date().toISOString(),
    error,
  };
  writeJsonAtomic(path.join(p.dir, 'exit.json'), exit);
}

/**
 * The shim of t's init (or of one of its execs) is gone without an exit.json. An init's
 * container is killed and deleted by the runtime (its processes would otherwise run on with
 * nobody holding their stdio or reaping them); an exec's process is left to end with its
 * container (no shim can tell that its pid is still the same process). Then the exit is recorded.
 */
export async function settleLostShim(t: Task, p: ShimProcess, logger?: Logger): Promise<void> {
  const fields = { namespace: t.namespace, id: t.id, execId: p.execId || undefined, pid: p.pid };
  logger?.warn('shim gone without an exit status: recording 255 (shim disconnected)', fields);
  if (p === t.init) {
    await t.runtime
      .delete(t.id, true)
      .catch((err) => logger?.warn('lost shim: runtime delete', { ...fields, err: (err as Error).message }));
  }
  if (!p.readExit()) recordLostExit(p, 'shim disconnected');
}
