/**
 * ctl-launch through launch(): what child_process gave its callers (exit code, both outputs,
 * stdin, cwd, a signal's 128+n, a clear error when the file cannot be run), for many commands at
 * once, and a launcher that dies is replaced.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorKind, isKind } from '@ctl/proto/errors';
import { LAUNCH_BINARY, LaunchError, launch } from '../src/launch';

/** pids of the ctl-launch processes that are children of this process */
function launchers(): number[] {
  const out = execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => l.trim().endsWith('ctl-launch'))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}

describe('launch (ctl-launch)', function () {
  this.timeout(60_000);

  before(function () {
    assert.ok(existsSync(LAUNCH_BINARY), `${LAUNCH_BINARY} is built`);
  });

  it('returns the exit code and both outputs, feeds stdin and runs in cwd', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctl-launch-'));
    try {
      const r = await launch('sh', ['-c', 'cat; pwd; echo oops >&2; exit 3'], { input: 'in\n', cwd: dir });
      assert.deepEqual(r, { code: 3, stdout: `in\n${dir}\n`, stderr: 'oops\n' });
      assert.ok(launchers().length === 1, 'the commands ran under ctl-launch, not child_process');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a signal as 128 + its number, and a file it cannot run as a LaunchError', async () => {
    assert.equal((await launch('sh', ['-c', 'kill -TERM $$'])).code, 128 + 15);
    await assert.rejects(
      launch('/nonexistent/tool', []),
      (err: unknown) => err instanceof LaunchError && err.code === 'ENOENT' && /nonexistent/.test(err.message),
    );
    const dir = mkdtempSync(join(tmpdir(), 'ctl-launch-'));
    try {
      writeFileSync(join(dir, 'not-executable'), '#!/bin/sh\n', { mode: 0o644 });
      await assert.rejects(launch(join(dir, 'not-executable'), []), (err: unknown) => err instanceof LaunchError && err.code === 'EACCES');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses an argument with a NUL byte (it would desynchronise the launcher) and goes on serving', async () => {
    for (const [file, args, cwd] of [
      ['echo', ['a\0b']],
      ['ec\0ho', []],
      ['echo', ['x'], '/tmp\0'],
    ] as const) {
      await assert.rejects(
        Promise.race([launch(file, [...args], { cwd }), new Promise((_, reject) => setTimeout(() => reject(new Error('hung')), 5000))]),
        (err: unknown) => isKind(err, ErrorKind.InvalidArgument) && /NUL/.test((err as Error).message),
      );
    }
    assert.deepEqual(await launch('echo', ['still here']), { code: 0, stdout: 'still here\n', stderr: '' });
  });

  it('runs many commands at once and answers each with its own output, large ones too', async () => {
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => launch('sh', ['-c', `sleep 0.0$((${i} % 5)); echo ${i}`])));
    results.forEach((r, i) => assert.equal(r.stdout, `${i}\n`));
    const big = await launch('head', ['-c', String(8 << 20), '/dev/zero']);
    assert.equal(big.stdout.length, 8 << 20);
    const input = 'x'.repeat(3 << 20);
    assert.equal((await launch('wc', ['-c'], { input })).stdout.trim(), String(input.length));
  });

  it('fails what was pending when the launcher dies and starts a new one for the next command', async () => {
    await launch('true', []);
    const [pid] = launchers();
    assert.ok(pid);
    const pending = launch('sleep', ['2']);
    process.kill(pid, 'SIGKILL');
    await assert.rejects(pending, (err: unknown) => err instanceof LaunchError);
    assert.equal((await launch('echo', ['again'])).stdout, 'again\n');
    assert.ok(!launchers().includes(pid));
  });
});
