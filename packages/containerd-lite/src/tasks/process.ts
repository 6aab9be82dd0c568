/**
 * One process a shim holds (a task's init or an exec): its directory, its pid, and the exit the
 * shim records there as exit.json. Exits are noticed through inotify on the directory (the shim
 * renames exit.json into place), with a slow poll as a fallback; each exit is announced once,
 * even across daemon restarts, through the `exit.announced` marker written after the announcement.
 * The poll also looks at the shim itself (its shim.pid): a shim gone without an exit.json was
 * killed, and nothing else would ever record this process's exit (see lost-shim.ts).
 */
import type { ExitStatus } from '@ctl/runtime-native';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ExitResult } from './tasks';

const FALLBACK_POLL_MS = 1000;
const ANNOUNCED = 'exit.announced';
const SHIM_PID = 'shim.pid';

/** Field 22 of /proc/PID/stat (start time in clock ticks); undefined when the process is gone or a zombie. */
export function processStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // the fields after the command's closing parenthesis: 3 (state) onwards
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[0] === 'Z' || fields[0] === 'X' ? undefined : fields[22 - 3];
}

export interface Stdio {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

export class ShimProcess {
  pid = 0;
  exit?: ExitStatus;
  started: boolean;
  private waiters: Array<(e: ExitStatus) => void> = [];
  private watcher?: fs.FSWatcher;
  private timer?: NodeJS.Timeout;
  /** shim.pid's "PID STARTTIME", once read */
  private shim?: { pid: number; startTime: string | undefined };

  constructor(
    /** "" for the init */
    readonly execId: string,
    readonly dir: string,
    readonly pidFile: string,
    readonly stdio: Stdio,
    started: boolean,
  ) {
    this.started = started;
    this.readPid();
  }

  readPid(): number {
    try {
      this.pid = Number(fs.readFileSync(this.pidFile, 'utf8').trim()) || this.pid;
    } catch {
      /* not written yet */
    }
    return this.pid;
  }

  readExit(): ExitStatus | undefined {
    if (this.exit) return this.exit;
    const file = path.join(this.dir, 'exit.json');
    // Asked every second of a running task's life (watch's poll): a look that does not throw,
    // where a failed read would build an error with its stack each time.
    if (!fs.existsSync(file)) return undefined;
    try {
      this.exit = JSON.parse(fs.readFileSync(file, 'utf8')) as ExitStatus;
    } catch {
      /* gone again (the bundle removed) */
    }
    return this.exit;
  }

  get announced(): boolean {
    return fs.existsSync(path.join(this.dir, ANNOUNCED));
  }

  markAnnounced(): void {
    fs.writeFileSync(path.join(this.dir, ANNOUNCED), '');
  }

  /**
   * Whether the shim holding this process is gone: the process its shim.pid names ("PID
   * STARTTIME") has exited, or the pid now belongs to another process. undefined when unknown (no
   * shim.pid: not started yet, or a shim of an earlier version).
   */
  shimGone(): boolean | undefined {
    // the shim writes it once, before it serves: read once
    if (!this.shim) {
      const file = path.join(this.dir, SHIM_PID);
      if (!fs.existsSync(file)) return undefined;
      try {
        const [pid, startTime] = fs.readFileSync(file, 'utf8').trim().split(' ');
        this.shim = { pid: Number(pid), startTime };
      } catch {
        return undefined;
      }
    }
    return !this.shim.pid || processStartTime(this.shim.pid) !== this.shim.startTime;
  }

  /**
   * Calls onExit once when exit.json appears (at once if it is there); onLost (once) when the shim
   * is gone without writing it: onLost is to record an exit, which then goes to onExit.
   */
  watch(onExit: (e: ExitStatus) => void, onLost?: () => Promise<void>): void {
    this.unwatch();
    let settling = false;
    const check = (): void => {
      // the shim renames exit.json into place before it exits: a gone shim has written it, or never will
      const gone = onLost && !settling && this.shimGone();
      const e = this.readExit();
      if (!e) {
        if (gone) {
          settling = true;
          void onLost().finally(check);
        }
        return;
      }
      this.unwatch();
      onExit(e);
      for (const w of this.waiters.splice(0)) w(e);
    };
    try {
      this.watcher = fs.watch(this.dir, (_event, name) => {
        if (name === 'exit.json') check();
      });
      this.watcher.on('error', () => undefined);
    } catch {
      /* the poll below still sees it */
    }
    this.timer = setInterval(check, FALLBACK_POLL_MS);
    this.timer.unref();
    check();
  }

  unwatch(): void {
    this.watcher?.close();
    this.watcher = undefined;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  waitExit(): Promise<ExitStatus> {
    const e = this.readExit();
    if (e) return Promise.resolve(e);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  result(id: string): ExitResult {
    const e = this.exit;
    return { id, pid: e?.pid ?? this.pid, exitStatus: e ? exitCode(e) : 0, exitedAt: e ? new Date(e.exitedAt) : new Date(0) };
  }
}

/** containerd's exit_status: the code, or 128 + signal when a signal ended the process (the shim writes it so). */
export function exitCode(e: ExitStatus): number {
  return e.exitStatus;
}

/** Whether a process of this pid exists (it may belong to another user: EPERM). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
