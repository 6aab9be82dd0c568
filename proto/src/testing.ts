import { spawnSync } from 'node:child_process';
/**
 * Helpers for the packages' tests: throw-away instance directories and child processes that are
 * always cleaned up, also when a test fails.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InstanceDirs } from './paths';
import { WireClient, wireMethod } from './wire';

export interface TempInstance extends InstanceDirs {
  base: string;
  remove(): void;
}

export function tempInstance(prefix = 'ctl-test-'): TempInstance {
  const base = mkdtempSync(join(tmpdir(), prefix));
  return { base, root: join(base, 'root'), state: join(base, 'state'), remove: () => rmSync(base, { recursive: true, force: true }) };
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
  intervalMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface Child {
  process: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns a process whose output is collected; `killAll` ends those still running. */
export class Children {
  private readonly children: Child[] = [];

  spawn(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Child {
    const proc = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      proc.on('exit', (code, signal) => resolve({ code, signal }));
    });
    const child = { process: proc, output: () => output, exited };
    this.children.push(child);
    return child;
  }

  /** SIGTERMs the children still running, newest first, each given graceMs before SIGKILL. */
  async stopAll(graceMs = 10_000): Promise<void> {
    for (const child of [...this.children].reverse()) {
      if (child.process.exitCode !== null || child.process.signalCode !== null) continue;
      child.process.kill('SIGTERM');
      const timer = setTimeout(() => child.process.kill('SIGKILL'), graceMs);
      await child.exited;
      clearTimeout(timer);
    }
    this.children.length = 0;
  }

  /** SIGKILLs every child this set spawned that is still running (by its own pid). */
  async killAll(): Promise<void> {
    for (const child of this.children) {
      if (child.process.exitCode === null && child.process.signalCode === null) {
        child.process.kill('SIGKILL');
        await child.exited;
      }
    }
    this.children.length = 0;
  }
}

/** Waits until a service answers Version on socket (a stale socket file does not count). */
export async function waitForService(socket: string, timeoutMs = 20_000): Promise<void> {
  const version = wireMethod<object, { version: string }>(
    'containerd/services/version/v1/version',
    'containerd.services.version.v1.Version',
    'Version',
  );
  await waitFor(
    `a service on ${socket}`,
    async () => {
      const client = new WireClient(socket);
      try {
        await client.unary(version, {}, { timeoutMs: 1000 });
        return true;
      } catch {
        return undefined;
      } finally {
        client.close();
      }
    },
    timeoutMs,
    25,
  );
}

/** Whether a command is on PATH (tests that need Debian's containerd, skopeo, … skip without it). */
export function haveCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}
