/**
 * Timing spans along the hot path (`ctl run` and the short commands), for the breakdown that
 * tools/bench/run-breakdown.mjs prints. `CTL_TRACE=FILE` in a process's environment (the CLI's,
 * the daemon's) makes it append one JSON line per span to FILE:
 *
 *   {"name":"daemon.runner.create","startMs":1712345678901.25,"durMs":3.1,"pid":123}
 *
 * startMs is wall-clock (performance.timeOrigin + performance.now()), so the lines of the CLI and
 * the daemon line up on one time axis. Several processes may append to one file: each line is one
 * write with O_APPEND. Without CTL_TRACE every function here is a test of one constant and a
 * call of what it wraps: nothing is timed, allocated or written.
 *
 * Light on purpose (node built-ins only): it is on every command's start-up path.
 */
import { appendFileSync } from 'node:fs';

const file = process.env.CTL_TRACE || '';

/** Whether this process records spans (CTL_TRACE set when it started). */
export const tracing = file !== '';

/** Now on the wall-clock axis the spans share, in milliseconds. */
export function traceNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Records a span that started at startMs (a traceNow()) and ends now, or at endMs. */
export function traceSpan(name: string, startMs: number, endMs = traceNow()): void {
  if (!tracing) return;
  const line = JSON.stringify({ name, startMs: round(startMs), durMs: round(endMs - startMs), pid: process.pid });
  try {
    appendFileSync(file, `${line}\n`);
  } catch {
    // A trace that cannot be written must not fail what it measures.
  }
}

/** fn's result, its time recorded as the span `name` (resolved or rejected alike). */
export function traced<T>(name: string, fn: () => Promise<T>): Promise<T> {
  if (!tracing) return fn();
  const start = traceNow();
  const end = (): void => traceSpan(name, start);
  return fn().then(
    (value) => {
      end();
      return value;
    },
    (err: unknown) => {
      end();
      throw err;
    },
  );
}

/** The synchronous form of traced. */
export function tracedSync<T>(name: string, fn: () => T): T {
  if (!tracing) return fn();
  const start = traceNow();
  try {
    return fn();
  } finally {
    traceSpan(name, start);
  }
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;
