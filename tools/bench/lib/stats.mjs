// What every bench takes of its figures, and the machine's `node -e 0` printed beside them.
import { spawnSync } from 'node:child_process';

/** The middle value (the upper one of an even count). */
export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** `node -e 0` in ms: the median of 10 runs after 3 warm-up runs, with the given environment. */
export function nodeStart(env) {
  const out = [];
  for (let i = 0; i < 13; i++) {
    const t = process.hrtime.bigint();
    spawnSync(process.execPath, ['-e', '0'], { env });
    if (i >= 3) out.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return median(out);
}

/** A deterministic generator (xorshift), so every run of a bench builds the same bytes. */
export function* bytesFrom(seed) {
  let x = seed >>> 0 || 1;
  for (;;) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    yield x;
  }
}
