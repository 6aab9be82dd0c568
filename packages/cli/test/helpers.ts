import { type Child, type Children, type TempInstance, isAlive, waitFor } from '@ctl/proto/testing';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export const CTL = join(__dirname, '..', '..', 'bin', 'ctl.js');
export const BIN = join(__dirname, '..', '..', '..', '..', 'node_modules', '.bin');

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** netns: run it (and so the daemon it starts) in that network namespace (a file, e.g. /run/netns/NAME). */
export function ctl(instance: TempInstance, args: string[], env: NodeJS.ProcessEnv = {}, netns?: string): Run {
  const argv = [CTL, '--root', instance.root, '--state', instance.state, ...args];
  const res = spawnSync(netns ? 'nsenter' : process.execPath, netns ? [`--net=${netns}`, process.execPath, ...argv] : argv, {
    env: { ...process.env, CTL_NO_AUTOSTART: '', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

/** Pids of the daemons that started in this instance and still run, from their "daemon ready" log lines. */
export function daemonPids(instance: TempInstance): number[] {
  const log = join(instance.state, 'daemon.log');
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((line) => line.includes('"daemon ready"'))
    .map((line) => (JSON.parse(line) as { pid: number }).pid)
    .filter(isAlive);
}

/**
 * Processes whose command line names this instance's state dir: the daemons its commands
 * started, including one still starting up that has not logged "daemon ready" yet (a loser of
 * a start-up race that outlives the winner would otherwise be missed). The temp dir is this
 * test's own, so these are processes the test started.
 */
function instanceProcesses(instance: TempInstance): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (args.some((a, i) => a === '--state' && args[i + 1] === instance.state)) pids.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

/** Stops the daemons this instance started (by their own pids): SIGTERM, then SIGKILL. */
export async function stopDaemons(instance: TempInstance): Promise<void> {
  for (let round = 0; round < 3; round++) {
    const pids = [...new Set([...daemonPids(instance), ...instanceProcesses(instance)])].filter(isAlive);
    if (pids.length === 0) return;
    for (const pid of pids) process.kill(pid, 'SIGTERM');
    for (const pid of pids) {
      try {
        await waitFor(`daemon ${pid} to exit`, () => !isAlive(pid) || undefined, 10_000);
      } catch {
        process.kill(pid, 'SIGKILL');
      }
    }
  }
}

/** Starts `ctl daemon` for the instance as a child of this process (its pid is ours to kill) and waits until it serves. */
export async function spawnDaemon(children: Children, instance: TempInstance, env: NodeJS.ProcessEnv): Promise<Child> {
  const daemon = children.spawn(process.execPath, [CTL, '--root', instance.root, '--state', instance.state, 'daemon'], env);
  await waitFor('daemon ready', () => daemon.output().includes('"daemon ready"') || daemon.process.exitCode !== null || undefined, 30_000);
  if (!daemon.output().includes('"daemon ready"')) throw new Error(`the daemon did not start:\n${daemon.output()}`);
  return daemon;
}
