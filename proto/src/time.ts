/**
 * Time as containerd's APIs carry it: google.protobuf.Timestamp, seconds and nanoseconds. A JS
 * Date holds milliseconds, so a time stamped here and truncated to the millisecond lands before
 * the instant a Go client (nanosecond clock) saw just before its call; containerd's snapshotter
 * suite checks exactly that. So:
 *
 * - `PreciseDate` is a Date that keeps the nanoseconds below its millisecond; everything that
 *   takes a Date takes it, and `toISOString` (so JSON and stored records) writes 9 digits. Times
 *   read or stamped here are PreciseDates when they have such nanoseconds, plain Dates if not.
 * - `now()` reads the wall clock to the nanosecond: the monotonic clock (process.hrtime) plus
 *   its offset to the wall clock, measured at a millisecond tick of Date.now().
 * - `parseTime` reads ISO strings with 0 to 9 fractional digits, so records stored with
 *   milliseconds read as before (and builds that read with `new Date` still read the new ones).
 */

export interface WireTimestamp {
  seconds: number | string;
  nanos: number;
}

const NS_PER_MS = 1_000_000n;
const NS_PER_S = 1_000_000_000n;

/** Floor division (bigint division truncates towards zero; times before 1970 need the floor). */
const floorDiv = (a: bigint, b: bigint): bigint => (a >= 0n || a % b === 0n ? a / b : a / b - 1n);

export class PreciseDate extends Date {
  /** Nanoseconds past getTime()'s millisecond, 0 to 999999. */
  readonly subMillisecondNanos: number;

  constructor(epochNanos: bigint) {
    const ms = floorDiv(epochNanos, NS_PER_MS);
    super(Number(ms));
    this.subMillisecondNanos = Number(epochNanos - ms * NS_PER_MS);
  }

  /** RFC 3339 with 9 fractional digits, as Go's time.RFC3339Nano before it trims zeros. */
  override toISOString(): string {
    return `${super.toISOString().slice(0, -1)}${String(this.subMillisecondNanos).padStart(6, '0')}Z`;
  }
}

/**
 * The Date for a time in nanoseconds since the epoch: a PreciseDate when it has nanoseconds below
 * the millisecond, else a plain Date (so times that lose nothing compare equal to plain Dates).
 */
export function fromEpochNanos(ns: bigint): Date {
  return ns % NS_PER_MS === 0n ? new Date(Number(ns / NS_PER_MS)) : new PreciseDate(ns);
}

/** Nanoseconds since the epoch of any Date (a plain one has none below its millisecond). */
export const epochNanos = (d: Date): bigint =>
  BigInt(d.getTime()) * NS_PER_MS + BigInt(d instanceof PreciseDate ? d.subMillisecondNanos : 0);

export const toTimestamp = (d: Date): WireTimestamp => {
  const ns = epochNanos(d);
  const seconds = floorDiv(ns, NS_PER_S);
  return { seconds: Number(seconds), nanos: Number(ns - seconds * NS_PER_S) };
};

export const fromTimestamp = (t: WireTimestamp | null | undefined): Date =>
  fromEpochNanos(BigInt(t?.seconds ?? 0) * NS_PER_S + BigInt(t?.nanos ?? 0));

const ISO_FRACTION = /^(.*T\d\d:\d\d:\d\d)\.(\d{1,9})(Z|[+-]\d\d:\d\d)$/;

/** An ISO 8601 time with up to 9 fractional digits (what toISOString of either class writes). */
export function parseTime(iso: string): Date {
  const m = ISO_FRACTION.exec(iso);
  const whole = m ? new Date(`${m[1]}${m[3]}`) : new Date(iso);
  if (!m || Number.isNaN(whole.getTime())) return whole;
  return fromEpochNanos(BigInt(whole.getTime()) * NS_PER_MS + BigInt(m[2].padEnd(9, '0')));
}

/** The longest a measurement of the clocks' offset may take; a longer one was interrupted. */
const CALIBRATION_WINDOW_NS = 20_000n;
const CALIBRATION_TRIES = 20;

/**
 * Wall clock minus monotonic clock, in nanoseconds: read both around the instant Date.now()
 * moves to its next millisecond, which happens within one short loop iteration. Spins for at
 * most a few milliseconds, and only on first use and after the wall clock was set.
 */
function measureOffset(): bigint {
  let offset = 0n;
  for (let attempt = 0; attempt < CALIBRATION_TRIES; attempt++) {
    const start = Date.now();
    let before = process.hrtime.bigint();
    let previous = before;
    let ms = start;
    while (ms === start) {
      previous = before;
      before = process.hrtime.bigint();
      ms = Date.now();
    }
    // The tick came after the previous iteration's Date.now() and before this one's, so between
    // `previous` and `after`: take the middle. A window wider than a loop iteration or two means
    // we were descheduled; measure at the next tick.
    const after = process.hrtime.bigint();
    offset = BigInt(ms) * NS_PER_MS - (previous + after) / 2n;
    if (after - previous < CALIBRATION_WINDOW_NS) break;
  }
  return offset;
}

let offset: bigint | undefined;

/** The wall clock to the nanosecond. */
export function now(): Date {
  offset ??= measureOffset();
  let ns = process.hrtime.bigint() + offset;
  const wallMs = BigInt(Date.now());
  // The monotonic clock runs at the wall clock's rate (both follow NTP's slewing) but does not
  // jump when the wall clock is set: measure again when the two disagree by over a millisecond.
  const driftMs = ns / NS_PER_MS - wallMs;
  if (driftMs > 1n || driftMs < -1n) {
    offset = measureOffset();
    ns = process.hrtime.bigint() + offset;
  }
  return fromEpochNanos(ns);
}
