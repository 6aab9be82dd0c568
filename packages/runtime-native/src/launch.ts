/**
 * Short commands (mount, umount, the runtime's start/delete/kill, the shim's starter, rm, du) run
 * through ctl-launch, one small process per Node process, instead of Node's child_process: a
 * spawn from Node forks the whole process on the event loop's thread, milliseconds for a daemon
 * with a large heap, during which no other request moves (see src/native/launch.c). Without the
 * launcher binary, or with CTL_LAUNCHER=0, commands fall back to child_process.
 *
 * The launcher dies with this process, and what it runs dies with the launcher (PR_SET_PDEATHSIG),
 * so no helper goes on as an orphan after a daemon is killed; only a command started with
 * `outlivesDaemon` (the shim's starter) keeps running. The kernel sends that signal when the
 * parent *thread* ends; child_process spawns on the calling JS thread (uv_spawn forks there, not
 * on a libuv worker), the main thread here, so it comes when this process ends.
 *
 * A light module (node built-ins and @ctl/proto/errors only): the snapshotter and the CLI import it
 * without the rest of runtime-native.
 */
import { EngineError, ErrorKind, invalidArgument } from '@ctl/proto/errors';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import * as path from 'node:path';

export interface LaunchResult {
  /** exit code; 128 + signal number when a signal ended the command */
  code: number;
  stdout: string;
  stderr: string;
}

export interface LaunchOptions {
  /** written to the command's stdin (otherwise /dev/null) */
  input?: string;
  cwd?: string;
  /** keeps running when this process dies (the shim's starter); otherwise it is SIGKILLed then */
  outlivesDaemon?: boolean;
  /** runs in the network namespace at this path (a bind-mounted netns, /proc/PID/ns/net): no nsenter exec */
  netns?: string;
  /** SIGKILLs the command when aborted (its result then says code 137) */
  signal?: AbortSignal;
}

/** The command could not be started at all (errno-style code, as child_process reports it). */
export class LaunchError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'LaunchError';
  }
}

export const LAUNCH_BINARY = path.join(__dirname, '..', '..', 'build', 'Release', 'ctl-launch');

const SPAWN_FAILED = 0x80000000;
/** request flags of launch.c: the command survives the launcher; a netns path follows the cwd; end a command */
const LAUNCH_OUTLIVES = 1;
const LAUNCH_NETNS = 2;
const LAUNCH_KILL = 4;
const errnoNames = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

interface Pending {
  resolve(r: LaunchResult): void;
  reject(err: Error): void;
}

class Launcher {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private buffered: Buffer = Buffer.alloc(0);
  dead = false;

  constructor(binary: string) {
    this.child = spawn(binary, ['--die-with-parent', String(process.pid)], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.child.stdout!.on('data', (chunk: Buffer) => this.onData(chunk));
    this.child.on('error', (err) => this.fail(err));
    this.child.on('exit', (code, signal) => this.fail(new Error(`ctl-launch exited (${signal ?? code})`)));
    this.child.stdin!.on('error', (err) => this.fail(err));
    this.idle();
  }

  run(file: string, args: string[], opts: LaunchOptions): Promise<LaunchResult> {
    const id = this.nextId++;
    const netns = opts.netns === undefined ? [] : [opts.netns];
    const strings = Buffer.from([opts.cwd ?? '', ...netns, file, ...args].map((s) => `${s}\0`).join(''));
    const input = Buffer.from(opts.input ?? '');
    const head = Buffer.alloc(16);
    head.writeUInt32LE(12 + strings.length + 4 + input.length, 0);
    head.writeUInt32LE(id, 4);
    head.writeUInt32LE((opts.outlivesDaemon ? LAUNCH_OUTLIVES : 0) | (netns.length ? LAUNCH_NETNS : 0), 8);
    head.writeUInt32LE(1 + args.length, 12);
    const inputLen = Buffer.alloc(4);
    inputLen.writeUInt32LE(input.length, 0);
    return new Promise<LaunchResult>((resolve, reject) => {
      const { signal } = opts;
      const kill = (): void => this.kill(id);
      const settled = (): void => signal?.removeEventListener('abort', kill);
      this.pending.set(id, {
        resolve: (r) => (settled(), resolve(r)),
        reject: (err) => (settled(), reject(err)),
      });
      this.busy();
      this.child.stdin!.write(Buffer.concat([head, strings, inputLen, input]));
      if (signal?.aborted) kill();
      else signal?.addEventListener('abort', kill, { once: true });
    });
  }

  /** SIGKILL to the command of request id while it runs; its answer comes as for any end. */
  private kill(id: number): void {
    if (!this.pending.has(id) || this.dead) return;
    const frame = Buffer.alloc(12);
    frame.writeUInt32LE(8, 0);
    frame.writeUInt32LE(id, 4);
    frame.writeUInt32LE(LAUNCH_KILL, 8);
    this.child.stdin!.write(frame);
  }

  private onData(chunk: Buffer): void {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    while (this.buffered.length >= 4) {
      const len = this.buffered.readUInt32LE(0);
      if (this.buffered.length < 4 + len) break;
      const msg = this.buffered.subarray(4, 4 + len);
      this.buffered = this.buffered.subarray(4 + len);
      const id = msg.readUInt32LE(0);
      const status = msg.readUInt32LE(4);
      const outLen = msg.readUInt32LE(8);
      const stdout = msg.toString('utf8', 12, 12 + outLen);
      const stderr = msg.toString('utf8', 16 + outLen, 16 + outLen + msg.readUInt32LE(12 + outLen));
      const p = this.pending.get(id);
      if (!p) continue;
      this.pending.delete(id);
      if (status & SPAWN_FAILED) {
        const errno = status & ~SPAWN_FAILED;
        p.reject(new LaunchError(stderr.trim(), errnoNames.get(errno) ?? `errno ${errno}`));
      } else {
        p.resolve({ code: status, stdout, stderr });
      }
    }
    if (this.pending.size === 0) this.idle();
  }

  /** While nothing is pending the launcher must not keep its Node process alive. */
  private idle(): void {
    this.child.unref();
    (this.child.stdout as unknown as { unref(): void }).unref();
    (this.child.stdin as unknown as { unref(): void }).unref();
  }

  private busy(): void {
    this.child.ref();
    (this.child.stdout as unknown as { ref(): void }).ref();
    (this.child.stdin as unknown as { ref(): void }).ref();
  }

  private fail(err: Error): void {
    if (this.dead) return;
    this.dead = true;
    // Whether those commands ran is unknown; their callers see an error, as for a lost reply.
    for (const p of this.pending.values()) p.reject(new LaunchError(`ctl-launch: ${err.message}`, 'ECHILD'));
    this.pending.clear();
    this.idle();
  }
}

let shared: Launcher | undefined;

let launcherFound = false;

/** Whether commands go through ctl-launch (and so die with it), not child_process. */
export function hasLauncher(): boolean {
  if (process.env.CTL_LAUNCHER === '0') return false;
  // Once found, not looked for again: a stat on every launch (several per container) showed in
  // the daemon's profile.
  launcherFound ||= existsSync(LAUNCH_BINARY);
  return launcherFound;
}

function launcher(): Launcher | undefined {
  if (!hasLauncher()) return undefined;
  if (!shared || shared.dead) shared = new Launcher(LAUNCH_BINARY);
  return shared;
}

function viaChildProcess(file: string, args: string[], opts: LaunchOptions): Promise<LaunchResult> {
  if (opts.netns !== undefined) return viaChildProcess('nsenter', [`--net=${opts.netns}`, file, ...args], { ...opts, netns: undefined });
  return new Promise((resolve, reject) => {
    const options = { cwd: opts.cwd, maxBuffer: 64 * 1024 * 1024, signal: opts.signal, killSignal: 'SIGKILL' as const };
    const child = execFile(file, args, options, (err, stdout, stderr) => {
      if (!err) return resolve({ code: 0, stdout, stderr });
      if (opts.signal?.aborted) return resolve({ code: 128 + constants.signals.SIGKILL, stdout, stderr });
      const e = err as NodeJS.ErrnoException & { code?: number | string; signal?: NodeJS.Signals | null };
      if (typeof e.code === 'number') return resolve({ code: e.code, stdout, stderr });
      if (e.signal) return resolve({ code: 128 + (constants.signals[e.signal] ?? 0), stdout, stderr });
      reject(new LaunchError(`${file}: ${e.message}`, String(e.code ?? 'EIO')));
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/**
 * Runs a command to its end and resolves with its exit code and output, whatever the code;
 * rejects with a LaunchError only when it could not be started.
 */
export function launch(file: string, args: string[], opts: LaunchOptions = {}): Promise<LaunchResult> {
  // The launcher's request frames its strings with NULs (so does execve): one inside a string
  // would shift every field after it and leave the launcher waiting for bytes that never come.
  const withNul = [opts.cwd ?? '', opts.netns ?? '', file, ...args].find((s) => s.includes('\0'));
  if (withNul !== undefined) return Promise.reject(invalidArgument(`${file}: argument ${JSON.stringify(withNul)} contains a NUL byte`));
  const l = launcher();
  return l ? l.run(file, args, opts) : viaChildProcess(file, args, opts);
}

/**
 * Runs a tool through the launcher and resolves with its stdout; a tool that cannot start or exits
 * non-zero rejects with an error naming the command and what it printed.
 */
export async function runTool(command: string, args: string[], options: { cwd?: string } = {}): Promise<string> {
  let r;
  try {
    r = await launch(command, args, { cwd: options.cwd });
  } catch (err) {
    throw new EngineError(ErrorKind.Unknown, `${command} ${args.join(' ')}: ${(err as Error).message}`, { cause: err });
  }
  if (r.code !== 0) throw new EngineError(ErrorKind.Unknown, `${command} ${args.join(' ')}: ${(r.stderr || `exit code ${r.code}`).trim()}`);
  return r.stdout;
}
