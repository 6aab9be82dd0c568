/**
 * Run bundles through the native runtime (ctl-runtime, runc's command line) and the per-container
 * shim (ctl-shim). The lifecycle of one container:
 *
 *   createWithShim(id, bundle)  -> the shim runs `ctl-runtime create`; the init waits   (created)
 *   start(id)                   -> the init execs process.args                          (running)
 *   waitExit(bundle)            -> the shim wrote exit.json when the init exited        (stopped)
 *   delete(id)                  -> processes, cgroups and state are gone
 *
 * kill, exec, ps, pause/resume, state, stats and attach work in between. The same works with
 * runc or crun as the runtime binary (runtimeChoice in native.ts; `flavor` says whose command line).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { connectUnix } from './unix-path';
import * as path from 'node:path';
import { Attachment } from './attach';
import { type LaunchOptions, launch } from './launch';
import { ErrorKind } from '@ctl/proto/errors';
import { RuntimeError, kindFromForeignRuntimeMessage, kindFromNativeExit, reasonFromForeignRuntimeMessage, reasonOf } from './errors';
import { RUNTIME_BINARY, type RuntimeFlavor, nativeBinaries } from './native';
import type { Process } from './spec/types';

export const DEFAULT_ROOT = '/run/ctl/runtime';

export type Status = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

export interface State {
  ociVersion: string;
  id: string;
  status: Status;
  pid: number;
  bundle: string;
  rootfs?: string;
  created?: string;
  annotations?: Record<string, string>;
}

export interface ExitStatus {
  pid: number;
  exitStatus: number;
  signal: number;
  oomKilled: boolean;
  exitedAt: string;
  /** why the status is not the process's own (written by the daemon, e.g. "shim disconnected": 255) */
  error?: string;
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RuntimeOptions {
  /** state root (--root) */
  root?: string;
  runtimeBinary?: string;
  shimBinary?: string;
  /** whose command line runtimeBinary has (default: ctl-runtime's); see runtimeChoice */
  flavor?: RuntimeFlavor;
}

function run(bin: string, args: string[], opts: LaunchOptions = {}): Promise<CommandResult> {
  return launch(bin, args, opts).catch((err: Error) => Promise.reject(new RuntimeError(ErrorKind.Unavailable, `${bin}: ${err.message}`)));
}

/** A shim holds its container across a daemon restart, so its starter must not die with the daemon. */
const SHIM_OUTLIVES_DAEMON: LaunchOptions = { outlivesDaemon: true };

/** The message of a runtime's stderr: runc writes logrus lines (time=… level=error msg="…"). */
function message(stderr: string): string {
  return stderr
    .trim()
    .split('\n')
    .map((l) => {
      const m = /\blevel=\w+ msg="((?:[^"\\]|\\.)*)"/.exec(l);
      return m ? m[1]!.replace(/\\(.)/g, '$1') : l.replace(/^ctl-(runtime|shim): /, '');
    })
    .join('\n');
}

/** A failed command of the runtime (directly or through the shim, which exits with the runtime's code). */
function failure(what: string, r: CommandResult, flavor: RuntimeFlavor, logged?: RuntimeLogError): RuntimeError {
  const stderr = logged?.msg ?? r.stderr;
  const msg = message(stderr) || `exit code ${r.code}`;
  // ctl-runtime's exit code is its kind (src/native/kinds.h) and its log line names the reason; runc and crun say both only in words
  const kind = flavor === 'native' ? kindFromNativeExit(r.code) : kindFromForeignRuntimeMessage(msg);
  const reason = flavor === 'native' ? reasonOf(logged?.reason) : reasonFromForeignRuntimeMessage(msg);
  return new RuntimeError(kind, `${what}: ${msg}`, { exitCode: r.code, stderr, ...(reason && { reason }) });
}

export class Runtime {
  readonly root: string;
  readonly runtimeBinary: string;
  readonly shimBinary: string;
  readonly flavor: RuntimeFlavor;

  constructor(opts: RuntimeOptions = {}) {
    this.root = opts.root ?? DEFAULT_ROOT;
    this.flavor = opts.flavor ?? 'native';
    const bins = opts.runtimeBinary && opts.shimBinary ? { runtime: opts.runtimeBinary, shim: opts.shimBinary } : nativeBinaries();
    this.runtimeBinary = opts.runtimeBinary ?? bins.runtime;
    this.shimBinary = opts.shimBinary ?? bins.shim;
  }

  /** Run a ctl-runtime subcommand; resolves with its result whatever the exit code. */
  command(args: string[], input?: string): Promise<CommandResult> {
    return run(this.runtimeBinary, ['--root', this.root, ...args], { input });
  }

  private async ok(what: string, args: string[], input?: string): Promise<string> {
    const r = await this.command(args, input);
    if (r.code !== 0) throw failure(what, r, this.flavor);
    return r.stdout;
  }

  /**
   * Create through a shim that outlives the caller. Files in the bundle: init.pid, exit.json,
   * container.log (one JSON object per output line; `log` puts it elsewhere, e.g. where it
   * outlives the bundle), runtime.log (the runtime's own log).
   */
  async createWithShim(
    id: string,
    bundle: string,
    opts: { tty?: boolean; stdin?: boolean; attach?: boolean; log?: string } = {},
  ): Promise<{ pid: number }> {
    const pidFile = path.join(bundle, 'init.pid');
    for (const f of ['init.pid', 'exit.json']) fs.rmSync(path.join(bundle, f), { force: true });
    const shimArgs = ['--state-dir', bundle, '--pid-file', pidFile, '--log', opts.log ?? path.join(bundle, 'container.log')];
    if (opts.attach || opts.stdin) shimArgs.push('--attach-socket', path.join(bundle, 'attach.sock'));
    if (opts.stdin) shimArgs.push('--stdin');
    shimArgs.push('--control-socket', path.join(bundle, 'control.sock'));
    const rtArgs = [this.runtimeBinary, '--root', this.root, '--log', path.join(bundle, 'runtime.log'), '--log-format', 'json', 'create'];
    rtArgs.push('--bundle', bundle, '--pid-file', pidFile);
    if (opts.tty) {
      const sock = path.join(bundle, 'console.sock');
      shimArgs.push('--console-socket', sock);
      rtArgs.push('--console-socket', sock);
    }
    rtArgs.push(id);
    const r = await run(this.shimBinary, [...shimArgs, '--', ...rtArgs], SHIM_OUTLIVES_DAEMON);
    if (r.code !== 0) throw failure(`create ${id}`, r, this.flavor, lastRuntimeError(path.join(bundle, 'runtime.log')));
    return { pid: Number(r.stdout.trim()) };
  }

  /**
   * Create without a shim. The init inherits the runtime's stdio (runc's contract), so here it
   * gets /dev/null and errors are read from the runtime's log in the bundle.
   */
  /**
   * exec through a shim of its own (the exec'd process is re-parented to it): `dir` receives
   * exec.pid, exit.json, exec.log, and attach.sock when asked for. Wait with waitExit(dir).
   * The process runs before anyone can attach, so the shim keeps its first output for the first
   * client (--backlog). With tty (proc.terminal), its stdio is a pty the shim holds (resizePty(dir)).
   */
  async execWithShim(
    id: string,
    proc: Process,
    dir: string,
    opts: { stdin?: boolean; attach?: boolean; tty?: boolean } = {},
  ): Promise<{ pid: number }> {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const f of ['exec.pid', 'exit.json']) fs.rmSync(path.join(dir, f), { force: true });
    const procFile = path.join(dir, 'process.json');
    fs.writeFileSync(procFile, JSON.stringify(proc));
    const pidFile = path.join(dir, 'exec.pid');
    const shimArgs = ['--state-dir', dir, '--pid-file', pidFile, '--log', path.join(dir, 'exec.log')];
    if (opts.attach || opts.stdin) shimArgs.push('--attach-socket', path.join(dir, 'attach.sock'), '--backlog');
    if (opts.stdin) shimArgs.push('--stdin');
    shimArgs.push('--control-socket', path.join(dir, 'control.sock'));
    const rtArgs = [this.runtimeBinary, '--root', this.root, '--log', path.join(dir, 'runtime.log'), '--log-format', 'json'];
    rtArgs.push('exec', '--detach', '--process', procFile, '--pid-file', pidFile);
    if (opts.tty) {
      const sock = path.join(dir, 'console.sock');
      shimArgs.push('--console-socket', sock);
      rtArgs.push('--console-socket', sock);
    }
    rtArgs.push(id);
    const r = await run(this.shimBinary, [...shimArgs, '--', ...rtArgs], SHIM_OUTLIVES_DAEMON);
    if (r.code !== 0) throw failure(`exec in ${id}`, r, this.flavor, lastRuntimeError(path.join(dir, 'runtime.log')));
    return { pid: Number(r.stdout.trim()) };
  }

  async create(id: string, bundle: string, pidFile?: string): Promise<void> {
    const log = path.join(bundle, 'runtime.log');
    const args = ['--root', this.root, '--log', log, '--log-format', 'json', 'create', '--bundle', bundle];
    if (pidFile) args.push('--pid-file', pidFile);
    args.push(id);
    const code = await new Promise<number>((resolve, reject) => {
      const child = spawn(this.runtimeBinary, args, { stdio: 'ignore' });
      child.on('error', reject);
      child.on('exit', (c) => resolve(c ?? 1));
    });
    if (code !== 0) throw failure(`create ${id}`, { code, stdout: '', stderr: '' }, this.flavor, lastRuntimeError(log));
  }

  async start(id: string): Promise<void> {
    await this.ok(`start ${id}`, ['start', id]);
  }

  async state(id: string): Promise<State> {
    return JSON.parse(await this.ok(`state ${id}`, ['state', id])) as State;
  }

  /** Every container under this root (after a daemon restart: what is still there). */
  async list(): Promise<State[]> {
    return JSON.parse(await this.ok('list', ['list', '--format', 'json'])) as State[];
  }

  async kill(id: string, signal: string | number = 'TERM', all = false): Promise<void> {
    await this.ok(`kill ${id}`, ['kill', ...(all ? ['--all'] : []), id, String(signal)]);
  }

  async delete(id: string, force = false): Promise<void> {
    await this.ok(`delete ${id}`, ['delete', ...(force ? ['--force'] : []), id]);
  }

  async pause(id: string): Promise<void> {
    await this.ok(`pause ${id}`, ['pause', id]);
  }

  async resume(id: string): Promise<void> {
    await this.ok(`resume ${id}`, ['resume', id]);
  }

  /** Changes a running container's resources (an OCI linux.resources object), as `runc update --resources -`. */
  async update(id: string, resources: Record<string, unknown>): Promise<void> {
    await this.ok(`update ${id}`, ['update', '--resources', '-', id], JSON.stringify(resources));
  }

  async ps(id: string): Promise<number[]> {
    return JSON.parse(await this.ok(`ps ${id}`, ['ps', '--format', 'json', id])) as number[];
  }

  /** runc's `events --stats` record ({type: 'stats', id, data}). */
  async stats(id: string): Promise<Record<string, unknown>> {
    if (this.flavor !== 'crun') return JSON.parse(await this.ok(`events ${id}`, ['events', '--stats', id])) as Record<string, unknown>;
    // crun has no events: ctl-runtime reads the same figures from the container's cgroup.
    const { bundle } = await this.state(id);
    let cgroupsPath: string | undefined;
    try {
      cgroupsPath = (JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')) as { linux?: { cgroupsPath?: string } }).linux
        ?.cgroupsPath;
    } catch (err) {
      throw new RuntimeError(ErrorKind.NotFound, `stats of ${id}: the bundle's config.json: ${(err as Error).message}`);
    }
    if (!cgroupsPath?.startsWith('/'))
      throw new RuntimeError(ErrorKind.FailedPrecondition, `stats of ${id}: its spec has no absolute linux.cgroupsPath`);
    const r = await run(RUNTIME_BINARY, ['events', '--stats', '--cgroup', cgroupsPath, id]);
    if (r.code !== 0) throw failure(`stats of ${id}`, r, 'native'); // ctl-runtime itself, whatever the flavor
    return JSON.parse(r.stdout) as Record<string, unknown>;
  }

  /** exec a process in the container and wait for it: exit code and output. */
  async exec(id: string, proc: Process): Promise<CommandResult> {
    const file = path.join(fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'ctl-process-')), 'process.json');
    try {
      fs.writeFileSync(file, JSON.stringify(proc));
      return await this.command(['exec', '--process', file, id]);
    } finally {
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  }

  /** Attach to the container's streams (created with { attach: true } or { stdin: true }). */
  attach(bundle: string): Promise<Attachment> {
    return Attachment.connect(path.join(bundle, 'attach.sock'));
  }

  /**
   * Sets the terminal size of a process created with a tty, through its shim's control socket
   * (dir = the bundle, or an exec's dir). FailedPrecondition when it has no terminal.
   */
  resizePty(dir: string, cols: number, rows: number): Promise<void> {
    return shimControl(dir, `resize ${cols} ${rows}`);
  }

  /** Closes the stdin of a process created with { stdin: true } (EOF for it), through its shim. */
  closeStdin(dir: string): Promise<void> {
    return shimControl(dir, 'close-stdin');
  }

  /** Resolves when the shim has written exit.json into the bundle. */
  async waitExit(bundle: string, pollMs = 20): Promise<ExitStatus> {
    const file = path.join(bundle, 'exit.json');
    for (;;) {
      try {
        return JSON.parse(fs.readFileSync(file, 'utf8')) as ExitStatus;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  /** create (with a shim) + start + wait + delete: the whole `run`. */
  async runToExit(id: string, bundle: string): Promise<ExitStatus & { log: LogLine[] }> {
    await this.createWithShim(id, bundle);
    try {
      await this.start(id);
      const status = await this.waitExit(bundle);
      return { ...status, log: readLog(path.join(bundle, 'container.log')) };
    } finally {
      await this.delete(id, true).catch(() => undefined);
    }
  }

  /** `ctl-runtime run` in the foreground (no shim): exit code and output. */
  runForeground(id: string, bundle: string): Promise<CommandResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.runtimeBinary, ['--root', this.root, 'run', '--bundle', bundle, id], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code: code ?? 128 + (signal ? 9 : 0), stdout, stderr }));
    });
  }
}

export interface LogLine {
  time: string;
  stream: 'stdout' | 'stderr';
  log: string;
}

export function readLog(file: string): LogLine[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as LogLine);
}

/** One command on a shim's control socket; rejects with the shim's "err …" answer. */
function shimControl(dir: string, command: string): Promise<void> {
  const sock = path.join(dir, 'control.sock');
  return new Promise((resolve, reject) => {
    let answer = '';
    const c = connectUnix(sock, () => c.write(`${command}\n`));
    c.setTimeout(5000, () => c.destroy(new RuntimeError(ErrorKind.Unavailable, `shim control ${sock}: no answer`)));
    c.on('data', (d: Buffer) => (answer += d.toString()));
    c.on('error', (err: NodeJS.ErrnoException) =>
      reject(
        err instanceof RuntimeError
          ? err
          : new RuntimeError(
              err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? ErrorKind.NotFound : ErrorKind.Unavailable,
              `shim control ${sock}: ${err.message}`,
            ),
      ),
    );
    c.on('close', () => {
      const a = answer.trim();
      if (a === 'ok') resolve();
      else if (a.startsWith('err ')) reject(new RuntimeError(ErrorKind.FailedPrecondition, `${command.split(' ')[0]}: ${a.slice(4)}`));
      else reject(new RuntimeError(ErrorKind.Unavailable, `shim control ${sock}: closed without an answer`));
    });
  });
}

/** The failure a runtime's JSON log ends with: its message and, from ctl-runtime, its reason. */
interface RuntimeLogError {
  msg: string;
  reason?: string;
}

function lastRuntimeError(logFile: string): RuntimeLogError | undefined {
  if (!fs.existsSync(logFile)) return undefined;
  const lines = fs.readFileSync(logFile, 'utf8').split('\n').filter(Boolean);
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      const o = JSON.parse(lines[i]) as { level?: string; msg?: string; reason?: string };
      if (o.level === 'error' && o.msg) return { msg: o.msg, ...(o.reason && { reason: o.reason }) };
    } catch {
      /* not JSON: skip */
    }
  }
  return undefined;
}
