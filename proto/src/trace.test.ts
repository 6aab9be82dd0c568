import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// CTL_TRACE is read when the module loads, so each case runs in a process of its own.
function runWith(env: NodeJS.ProcessEnv, body: string): void {
  const script = `const t = require(${JSON.stringify(join(__dirname, 'trace.js'))});\n${body}`;
  execFileSync(process.execPath, ['-e', script], { env: { ...process.env, CTL_TRACE: '', ...env }, stdio: 'pipe' });
}

describe('trace spans (CTL_TRACE)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'trace-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('appends one JSON line per span, sync and async, also for a rejected promise', () => {
    const file = join(dir, 'spans');
    runWith(
      { CTL_TRACE: file },
      `if (!t.tracing) process.exit(3);
       t.tracedSync('one', () => 1);
       t.traced('two', () => Promise.resolve(2))
         .then(() => t.traced('three', () => Promise.reject(new Error('no'))))
         .catch(() => t.traceSpan('four', t.traceNow() - 5));`,
    );
    const spans = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { name: string; startMs: number; durMs: number; pid: number });
    assert.deepEqual(
      spans.map((s) => s.name),
      ['one', 'two', 'three', 'four'],
    );
    for (const s of spans) {
      assert.ok(s.durMs >= 0 && s.pid > 0);
      // wall clock: within a minute of now
      assert.ok(Math.abs(s.startMs - Date.now()) < 60_000);
    }
    assert.ok(spans[3]!.durMs >= 5);
  });

  it('writes nothing and only calls through when CTL_TRACE is unset', () => {
    const file = join(dir, 'spans');
    runWith(
      {},
      `if (t.tracing) process.exit(3);
       if (t.tracedSync('one', () => 7) !== 7) process.exit(4);
       t.traceSpan('two', 0);
       require('node:fs').writeFileSync(${JSON.stringify(join(dir, 'done'))}, '');`,
    );
    assert.ok(existsSync(join(dir, 'done')));
    assert.ok(!existsSync(file));
  });
});
