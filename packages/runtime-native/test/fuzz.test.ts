/**
 * A short run of the libFuzzer harnesses (fuzz/): each for 20 s on the kept corpus, built first
 * when a source is newer than the binary. Any sanitizer report, escape or crash fails the test.
 * The seed is fixed, so that a failure here is one that reruns the same way; finding new inputs is
 * the long runs' work.
 * Needs root and clang-14 (tools/setup.sh installs it); the long runs are by hand (README).
 */
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isRoot } from './layers-fixture';

const PKG = path.resolve(__dirname, '../..');
const FUZZ = path.join(PKG, 'fuzz');
const HARNESSES = ['apply_fuzzer', 'diff_fuzzer'];
const SECONDS = 20;

function hasClang(): boolean {
  return spawnSync('clang-14', ['--version']).status === 0;
}

/** The newest mtime of the harnesses' sources: the fuzz dir's C and the layer tools' native code. */
function newestSource(): number {
  const native = path.join(PKG, 'src/native');
  const files = [
    ...fs.readdirSync(FUZZ).map((f) => path.join(FUZZ, f)),
    ...fs
      .readdirSync(native)
      .filter((f) => /^(apply|diff)/.test(f))
      .map((f) => path.join(native, f)),
  ].filter((f) => /\.(c|h|sh)$/.test(f));
  return Math.max(...files.map((f) => fs.statSync(f).mtimeMs));
}

function buildIfNeeded(): void {
  const newest = newestSource();
  const stale = HARNESSES.some((h) => {
    const bin = path.join(FUZZ, 'build', h);
    return !fs.existsSync(bin) || fs.statSync(bin).mtimeMs < newest;
  });
  if (stale) execFileSync(path.join(FUZZ, 'build.sh'), { stdio: 'pipe' });
}

describe('fuzz harnesses: a short run on the corpus', function () {
  this.timeout((HARNESSES.length * SECONDS + 120) * 1000);
  let tmp = '';
  before(function () {
    if (!isRoot || !hasClang()) this.skip();
    buildIfNeeded();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ctl-fuzz-test-'));
  });
  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  for (const harness of HARNESSES) {
    it(`${harness} runs ${SECONDS} s without a crash, leak or escape`, () => {
      const kind = harness.replace('_fuzzer', '');
      // a copy: new inputs found in the run must not grow the kept corpus
      const corpus = path.join(tmp, `${kind}-corpus`);
      fs.cpSync(path.join(FUZZ, 'corpus', kind), corpus, { recursive: true });
      const artifacts = path.join(tmp, `${kind}-artifacts`) + path.sep;
      fs.mkdirSync(artifacts);
      const r = spawnSync(
        path.join(FUZZ, 'build', harness),
        [`-max_total_time=${SECONDS}`, '-seed=1', '-timeout=30', '-rss_limit_mb=1536', `-artifact_prefix=${artifacts}`, corpus],
        { encoding: 'utf8', maxBuffer: 64 << 20 },
      );
      const log = `${r.stdout}${r.stderr}`;
      const report = log.match(/ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|ESCAPE|deadly signal|does not apply/);
      assert.equal(report, null, `${harness} reported a problem:\n${log.slice(-6000)}`);
      assert.equal(r.status, 0, `${harness} exited with ${r.status} (signal ${r.signal}):\n${log.slice(-6000)}`);
      assert.deepEqual(fs.readdirSync(artifacts), [], 'crash inputs were written');
      assert.match(log, /Done \d+ runs/);
    });
  }
});
