import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { PreciseDate, epochNanos, fromTimestamp, now, parseTime, toTimestamp } from './time';

/** The wall clock in nanoseconds as another process (date(1), clock_gettime) reads it. */
const dateNanos = (): bigint => BigInt(execFileSync('date', ['+%s%N'], { encoding: 'utf8' }).trim());

describe('time', () => {
  it('carries nanoseconds through google.protobuf.Timestamp, also before 1970', () => {
    assert.deepEqual(toTimestamp(new PreciseDate(1_700_000_000_123_456_789n)), { seconds: 1_700_000_000, nanos: 123_456_789 });
    assert.equal(epochNanos(fromTimestamp({ seconds: '1700000000', nanos: 123_456_789 })), 1_700_000_000_123_456_789n);
    assert.deepEqual(toTimestamp(new PreciseDate(-1n)), { seconds: -1, nanos: 999_999_999 });
    assert.deepEqual(toTimestamp(new Date(1500)), { seconds: 1, nanos: 500_000_000 });
    assert.equal(epochNanos(fromTimestamp(null)), 0n);
    // Nothing below the millisecond: a plain Date, equal to the one it came from.
    assert.deepEqual(fromTimestamp(toTimestamp(new Date(1500))), new Date(1500));
  });

  it('writes 9 fractional digits and reads 0 to 9, so records stored with milliseconds still read', () => {
    const d = new PreciseDate(1_700_000_000_123_456_789n);
    assert.equal(d.toISOString(), '2023-11-14T22:13:20.123456789Z');
    assert.equal(JSON.stringify({ d }), '{"d":"2023-11-14T22:13:20.123456789Z"}');
    assert.equal(epochNanos(parseTime(d.toISOString())), 1_700_000_000_123_456_789n);
    assert.equal(epochNanos(parseTime('2023-11-14T22:13:20.123Z')), 1_700_000_000_123_000_000n);
    assert.equal(epochNanos(parseTime('2023-11-14T22:13:20Z')), 1_700_000_000_000_000_000n);
    assert.equal(epochNanos(parseTime('2023-11-15T00:13:20.5+02:00')), 1_700_000_000_500_000_000n);
    // A build that reads with `new Date` reads the new form to the millisecond.
    assert.equal(new Date(d.toISOString()).getTime(), 1_700_000_000_123);
  });

  it('now() lies between wall clock readings taken by another process before and after it', () => {
    const before = dateNanos();
    const stamp = epochNanos(now());
    const after = dateNanos();
    assert.ok(before < stamp && stamp < after, `${before} < ${stamp} < ${after}`);
  });

  it('now() is the wall clock to well under a millisecond (Date.now() truncates up to 1 ms)', () => {
    // performance.timeOrigin is the wall clock at start in microseconds; the monotonic time since
    // then gives a reference good to a few microseconds. A millisecond clock misses it by 500 µs
    // on average; allow 100 µs, and read it a few times so a truncating clock cannot pass by luck.
    const reference = (): bigint => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
    const tolerance = 100_000n;
    now();
    for (let i = 0; i < 8; i++) {
      const a = reference();
      const stamp = epochNanos(now());
      const b = reference();
      assert.ok(a - tolerance <= stamp && stamp <= b + tolerance, `${a} <= ${stamp} <= ${b} (±${tolerance} ns)`);
      while (reference() - b < 137_000n); // spread the readings over different sub-millisecond phases
    }
  });
});
