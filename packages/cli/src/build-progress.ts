/**
 * `ctl build`'s progress, drawn from the daemon's events (ctl.build.v1 BuildEvent) as BuildKit
 * draws its own, always on stderr so that stdout carries only what -q asks for:
 *
 * - tty: a view redrawn in place: `[+] Building 3.2s (5/8)`, a line per step with its time or
 *   CACHED/ERROR, and under a running step the last lines of its output. Redraws are throttled.
 * - plain: a log: `#N [stage 2/5] RUN make`, `#N 0.123 <line>`, `#N DONE 1.2s` or `#N CACHED`.
 * - quiet: nothing while it runs.
 *
 * Every mode ends a failed build with the failing step and its last lines of output.
 */
type BuildEvent = import('@ctl/containerd-lite/client').BuildEvent;

export type ProgressMode = 'tty' | 'plain' | 'quiet';

export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  rows?: number;
  write(text: string): unknown;
}

export interface ProgressOptions {
  /** the clock, in milliseconds (tests script it) */
  now?: () => number;
  /** how often the tty view is redrawn, ms; 0: only when render() is called (tests) */
  intervalMs?: number;
}

/** The outcome as the command knows it when the events stop. */
export interface BuildOutcome {
  imageId?: string;
  names?: string[];
  error?: Error;
  cancelled?: boolean;
}

interface Step {
  id: string;
  name: string;
  number: number;
  startedAt: number;
  endedAt?: number;
  durationMs?: number;
  cached: boolean;
  error?: string;
  /** still running when the build was cancelled */
  cancelled?: boolean;
  /** still running when the build failed (the error did not come as this step's StepDone) */
  interrupted?: boolean;
  /** complete lines of output (the last LAST_LINES kept), each with its time since the step started */
  lines: { at: number; text: string }[];
  /** an unfinished line per stream (1 stdout, 2 stderr) */
  partial: Map<number, string>;
}

/** Lines of output under a running step in the tty view. */
const TTY_LOG_LINES = 6;
/** Lines of output kept per step, for the failure report. */
const LAST_LINES = 12;
const DEFAULT_INTERVAL_MS = 100;
/** The daemon's last step, which the result's image id and names belong to. */
const EXPORT_STEP = 'exporting to image';

const seconds = (ms: number, digits = 1): string => `${(ms / 1000).toFixed(digits)}s`;

/** Control characters other than tab would move the cursor of the view; shown as spaces. */
const printable = (line: string): string => line.replace(/\r$/, '').replace(/[\x00-\x08\x0b-\x1f\x7f]/g, ' '); // eslint-disable-line no-control-regex

export abstract class BuildProgress {
  protected readonly steps = new Map<string, Step>();
  protected readonly order: Step[] = [];
  protected readonly warnings: { message: string; line: number }[] = [];
  protected readonly now: () => number;
  protected readonly startedAt: number;

  constructor(
    protected readonly stream: ProgressStream,
    options: ProgressOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
  }

  event(e: BuildEvent): void {
    switch (e.event) {
      case 'started': {
        const s = e.started!;
        const step: Step = {
          id: s.id,
          name: s.name,
          number: this.order.length + 1,
          startedAt: this.now(),
          cached: false,
          lines: [],
          partial: new Map(),
        };
        this.steps.set(s.id, step);
        this.order.push(step);
        this.onStarted(step);
        break;
      }
      case 'log': {
        const log = e.log!;
        const step = this.steps.get(log.id);
        if (!step) break;
        const text = (step.partial.get(log.stream) ?? '') + Buffer.from(log.data).toString('utf8');
        const parts = text.split('\n');
        step.partial.set(log.stream, parts.pop()!);
        for (const line of parts) this.addLine(step, line);
        break;
      }
      case 'done': {
        const d = e.done!;
        const step = this.steps.get(d.id);
        if (!step) break;
        this.flushPartial(step);
        step.endedAt = this.now();
        step.durationMs = d.durationNs ? Number(d.durationNs) / 1e6 : step.endedAt - step.startedAt;
        step.cached = d.cached;
        if (d.error) step.error = d.error;
        this.onDone(step);
        break;
      }
      case 'warning':
        this.warnings.push({ message: e.warning!.message, line: e.warning!.line });
        break;
      default:
    }
  }

  /** Draws the end: the final view or lines, the failing step's output, the warnings. */
  finish(outcome: BuildOutcome): void {
    for (const step of this.order) {
      if (step.endedAt !== undefined) continue;
      this.flushPartial(step);
      step.endedAt = this.now();
      step.durationMs = step.endedAt - step.startedAt;
      if (outcome.cancelled) step.cancelled = true;
      else if (outcome.error) step.interrupted = true;
    }
    this.onFinish(outcome);
    if (outcome.error && !outcome.cancelled) this.stream.write(this.failureReport());
    if (this.warnings.length) {
      const n = this.warnings.length;
      const lines = this.warnings.map((w) => ` - ${w.message}${w.line ? ` (line ${w.line})` : ''}\n`).join('');
      this.stream.write(`\n${n} warning${n === 1 ? '' : 's'} found:\n${lines}`);
    }
  }

  /** The failed steps (or, when none says so, those the error stopped) with their last lines, as BuildKit frames them. */
  protected failureReport(): string {
    let failed = this.order.filter((s) => s.error);
    if (!failed.length) failed = this.order.filter((s) => s.interrupted);
    return failed
      .map((s) => {
        const lines = s.lines.map((l) => `${seconds(l.at, 3).slice(0, -1)} ${l.text}\n`).join('');
        return `------\n > ${s.name}:\n${lines}------\n`;
      })
      .join('');
  }

  private addLine(step: Step, text: string): void {
    const line = { at: this.now() - step.startedAt, text: printable(text) };
    step.lines.push(line);
    if (step.lines.length > LAST_LINES) step.lines.shift();
    this.onLine(step, line);
  }

  private flushPartial(step: Step): void {
    for (const [stream, rest] of step.partial) {
      if (rest) this.addLine(step, rest);
      step.partial.delete(stream);
    }
  }

  protected onStarted(_step: Step): void {}
  protected onLine(_step: Step, _line: { at: number; text: string }): void {}
  protected onDone(_step: Step): void {}
  protected onFinish(_outcome: BuildOutcome): void {}
}

/** Nothing while the build runs; the failure report and warnings at the end. */
export class QuietProgress extends BuildProgress {}

/** BuildKit's plain output: one line per happening, each tagged with its step's number. */
export class PlainProgress extends BuildProgress {
  private lastNumber = 0;
  /** the daemon's export step, done: the result's lines go under its number */
  private exportStep: Step | undefined;

  protected override onStarted(step: Step): void {
    this.stream.write(`\n#${step.number} ${step.name}\n`);
    this.lastNumber = step.number;
  }

  protected override onLine(step: Step, line: { at: number; text: string }): void {
    this.stream.write(`#${step.number} ${(line.at / 1000).toFixed(3)} ${line.text}\n`);
    this.lastNumber = step.number;
  }

  protected override onDone(step: Step): void {
    const prefix = this.lastNumber === step.number ? '' : `\n#${step.number} ${step.name}\n`;
    if (step.name === EXPORT_STEP && !step.error) {
      // Its DONE comes after the image's id and names, which only the result brings (BuildKit's order).
      this.stream.write(prefix);
      this.exportStep = step;
      this.lastNumber = step.number;
      return;
    }
    let status: string;
    if (step.error) status = `ERROR: ${step.error}`;
    else if (step.cached) status = 'CACHED';
    else status = `DONE ${seconds(step.durationMs ?? 0)}`;
    this.stream.write(`${prefix}#${step.number} ${status}\n`);
    this.lastNumber = step.number;
  }

  protected override onFinish(outcome: BuildOutcome): void {
    for (const step of this.order) {
      if (step.cancelled) this.stream.write(`#${step.number} CANCELED\n`);
      else if (step.interrupted) this.stream.write(`#${step.number} ERROR: ${outcome.error?.message ?? 'failed'}\n`);
    }
    const exported = this.exportStep;
    if (!outcome.imageId) {
      if (exported) this.stream.write(`#${exported.number} DONE ${seconds(exported.durationMs ?? 0)}\n`);
      return;
    }
    const n = exported?.number ?? this.order.length + 1;
    const header = exported && this.lastNumber === n ? '' : `\n#${n} ${EXPORT_STEP}\n`;
    const names = (outcome.names ?? []).map((name) => `#${n} naming to ${name} done\n`).join('');
    const took = seconds(exported?.durationMs ?? 0);
    this.stream.write(`${header}#${n} writing image ${outcome.imageId} done\n${names}#${n} DONE ${took}\n`);
  }
}

/** BuildKit's terminal view: redrawn in place, a line per step, the running steps' last lines under them. */
export class TtyProgress extends BuildProgress {
  /** lines the last frame drew, to go back up over */
  private drawn = 0;
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(stream: ProgressStream, options: ProgressOptions = {}) {
    super(stream, options);
    const interval = options.intervalMs ?? DEFAULT_INTERVAL_MS;
    if (interval > 0) {
      this.timer = setInterval(() => {
        if (this.dirty || this.order.some((s) => s.endedAt === undefined)) this.render();
      }, interval);
      this.timer.unref();
    }
  }

  protected override onStarted(): void {
    this.dirty = true;
  }
  protected override onLine(): void {
    this.dirty = true;
  }
  protected override onDone(): void {
    this.dirty = true;
  }

  protected override onFinish(outcome: BuildOutcome): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.render(outcome);
  }

  /** Draws the view over the last one. With an outcome it is the final frame: every step, no output lines. */
  render(outcome?: BuildOutcome): void {
    this.dirty = false;
    const width = Math.max(40, (this.stream.columns ?? 80) - 1);
    const elapsed = seconds(this.now() - this.startedAt);
    const finished = this.order.filter((s) => s.endedAt !== undefined).length;
    const header = `[+] Building ${elapsed} (${finished}/${this.order.length})${outcome && !outcome.error ? ' FINISHED' : ''}`;
    let body: string[] = [];
    for (const step of this.order) {
      body.push(this.stepLine(step, width));
      if (!outcome && step.endedAt === undefined)
        for (const line of step.lines.slice(-TTY_LOG_LINES)) body.push(fit(` => => # ${line.text}`, width));
    }
    if (outcome?.imageId) {
      body.push(fit(` => => writing image ${outcome.imageId}`, width));
      for (const name of outcome.names ?? []) body.push(fit(` => => naming to ${name}`, width));
    }
    // A frame taller than the terminal could not be gone back over: while running, only its last lines show.
    const rows = this.stream.rows ?? 0;
    if (!outcome && rows > 2 && body.length > rows - 2) body = body.slice(body.length - (rows - 2));
    const lines = [fit(header, width), ...body];
    let out = this.drawn ? `\x1b[${this.drawn}A` : '';
    for (const line of lines) out += `\r\x1b[K${line}\n`;
    out += '\x1b[J';
    this.stream.write(out);
    this.drawn = lines.length;
  }

  private stepLine(step: Step, width: number): string {
    const running = step.endedAt === undefined;
    const time = seconds(running ? this.now() - step.startedAt : (step.durationMs ?? 0));
    let label = step.name;
    if (step.error || step.interrupted) label = `ERROR ${label}`;
    else if (step.cancelled) label = `CANCELED ${label}`;
    else if (step.cached) label = `CACHED ${label}`;
    const left = ` => ${label}`;
    const room = width - time.length - 1;
    const shown = left.length > room ? `${left.slice(0, Math.max(0, room - 1))}…` : left;
    return `${shown.padEnd(room)} ${time}`;
  }
}

const fit = (line: string, width: number): string => (line.length > width ? `${line.slice(0, width - 1)}…` : line);

/** --progress auto|plain|tty|quiet (and docker's BUILDKIT_PROGRESS for auto): the renderer to use. */
export function progressMode(value: string | undefined, stderr: ProgressStream, env: NodeJS.ProcessEnv): ProgressMode {
  let mode = value ?? 'auto';
  if (mode === 'auto' && env.BUILDKIT_PROGRESS && ['plain', 'tty', 'quiet'].includes(env.BUILDKIT_PROGRESS)) mode = env.BUILDKIT_PROGRESS;
  if (mode === 'auto') return stderr.isTTY ? 'tty' : 'plain';
  return mode as ProgressMode;
}

export function makeProgress(mode: ProgressMode, stream: ProgressStream, options: ProgressOptions = {}): BuildProgress {
  if (mode === 'tty') return new TtyProgress(stream, options);
  if (mode === 'plain') return new PlainProgress(stream, options);
  return new QuietProgress(stream, options);
}
