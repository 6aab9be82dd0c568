import { type TempInstance, isAlive, waitFor } from '@ctl/proto/testing';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const CTL = join(__dirname, '..', '..', 'bin', 'ctl.js');
export const BIN = join(__dirname, '..', '..', '..', '..', 'node_modules', '.bin');

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function ctl(instance: TempInstance, args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const res = spawnSync(process.execPath, [CTL, '--root', instance.root, '--state', instance.state, ...args], {
    env: { ...process.env, CTL_NO_AUTOSTART: '', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

/** Pids of the daemons that started in this instance, from their "daemon ready" log lines. */
export function daemonPids(instance: TempInstance): number[] {
  const log = join(instance.state, 'daemon.log');
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((line) => line.includes('"daemon ready"'))
    .map((line) => (JSON.parse(line) as { pid: number }).pid);
}

/** Stops the daemons this instance started (by their own pids): SIGTERM, then SIGKILL. */
export async function stopDaemons(instance: TempInstance): Promise<void> {
  for (const pid of daemonPids(instance)) {
    if (!isAlive(pid)) continue;
    process.kill(pid, 'SIGTERM');
    try {
      await waitFor(`daemon ${pid} to exit`, () => !isAlive(pid) || undefined, 10_000);
    } catch {
      process.kill(pid, 'SIGKILL');
    }
  }
}
