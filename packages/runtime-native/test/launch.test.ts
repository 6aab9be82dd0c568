/**
 * ctl-launch through launch(): what child_process gave its callers (exit code, both outputs,
 * stdin, cwd, a signal's 128+n, a clear error when the file cannot be run), for many commands at
 * once, and a launcher that dies is replaced. Nothing outlives the process that launched it but
 * what asks to (the shim's starter).
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorKind, isKind } from '@ctl/proto/errors';
import { isAlive, waitFor } from '@ctl/proto/testing';
import { APPLY_BINARY } from '../src/layers';
import { LAUNCH_BINARY, LaunchError, launch } from '../src/launch';

/** The pid of a process that has file open, if any (a look through /proc/<pid>/fd). */
function holderOf(file: string): number | undefined {
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      if (readdirSync(`/proc/${pid}/fd`).some((fd) => readlinkSync(`/proc/${pid}/fd/${fd}`) === file)) return Number(pid);
    } catch {
      // gone, or not ours to look at
    }
  }
  return undefined;
}

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

  it('kills a command whose signal aborts, leaving the others running, and answers it with 137', async () => {
    const ac = new AbortController();
    const dir = mkdtempSync(join(tmpdir(), 'ctl-launch-'));
    try {
      // The killed one writes its pid first: it must be gone, not merely answered for.
      const pidFile = join(dir, 'pid');
      const killed = launch('sh', ['-c', `echo $$ > ${pidFile}.tmp && mv ${pidFile}.tmp ${pidFile} && exec sleep 60`], {
        signal: ac.signal,
      });
      const other = launch('sh', ['-c', 'sleep 0.2; echo done']);
      const pid = await waitFor('the command to start', () => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : undefined));
      ac.abort();
      assert.equal((await killed).code, 128 + 9);
      assert.ok(!isAlive(pid));
      assert.deepEqual(await other, { code: 0, stdout: 'done\n', stderr: '' });
      // Aborted before it is asked: killed at once.
      assert.equal((await launch('sleep', ['60'], { signal: AbortSignal.abort() })).code, 128 + 9);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs ctl-apply in a child forked from the launcher, without exec, as the binary would run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctl-launch-'));
    try {
      const layer = join(dir, 'layer.tar');
      writeFileSync(join(dir, 'a'), 'a\n');
      execFileSync('tar', ['-C', dir, '-cf', layer, '--owner=0', '--group=0', '--numeric-owner', 'a']);
      // The input is announced longer than it is: the apply waits at its end, so it can be looked at.
      const target = join(dir, 'target');
      execFileSync('mkdir', [target]);
      const ac = new AbortController();
      const args = [
        '--target',
        target,
        '--whiteouts',
        'remove',
        '--input',
        layer,
        '--input-size',
        String(readFileSync(layer).length + 512),
      ];
      const applying = launch(APPLY_BINARY, args, { signal: ac.signal });
      const pid = await waitFor('the apply to open its input', () => holderOf(layer));
      assert.equal(readlinkSync(`/proc/${pid}/exe`), LAUNCH_BINARY, 'a forked launcher, not an exec of ctl-apply');
      ac.abort();
      assert.equal((await applying).code, 128 + 9);
      // Without the wait, it runs to its end and answers as the binary does.
      const done = await launch(APPLY_BINARY, ['--target', target, '--whiteouts', 'remove', '--input', layer]);
      assert.equal(done.code, 0, done.stderr);
      assert.match(done.stdout, /^\{"diffId":"sha256:[0-9a-f]{64}","size":\d+,"entries":\d+\}\n$/);
      const bad = await launch(APPLY_BINARY, ['--target', join(dir, 'nope'), '--whiteouts', 'remove', '--input', layer]);
      assert.equal(bad.code, 5);
      assert.match(bad.stderr, /^ctl-apply: target .*nope/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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

  it('kills what it runs when it dies, except what outlives the daemon', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctl-launch-'));
    const pids: number[] = [];
    try {
      await launch('true', []);
      const [launcher] = launchers();
      assert.ok(launcher);
      const started = (name: string) =>
        waitFor(`${name} to start`, () => (existsSync(join(dir, name)) ? Number(readFileSync(join(dir, name), 'utf8')) : undefined));
      const dies = launch('sh', ['-c', `echo $$ > ${dir}/dies.tmp && mv ${dir}/dies.tmp ${dir}/dies && exec sleep 300`]);
      const outlives = launch('sh', ['-c', `echo $$ > ${dir}/outlives.tmp && mv ${dir}/outlives.tmp ${dir}/outlives && exec sleep 300`], {
        outlivesDaemon: true,
      });
      pids.push(await started('dies'), await started('outlives'));
      process.kill(launcher, 'SIGKILL');
      await Promise.allSettled([dies, outlives]);
      await waitFor('the command to die with the launcher', () => !isAlive(pids[0]!) || undefined);
      assert.equal(isAlive(pids[1]!), true, 'a command that outlives the daemon survives its launcher');
    } finally {
      for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('dies with the process that started it, and what it runs with it', async () => {
    // A Node process runs a command through a launcher and waits: SIGKILL it, as a daemon dies.
    const dir = mkdtempSync(join(tmpdir(), 'ctl-launch-'));
    const file = join(dir, 'pids');
    const script = `require(${JSON.stringify(join(__dirname, '..', 'src', 'launch.js'))})
      .launch('sh', ['-c', 'echo $PPID $$ > ${file}.tmp && mv ${file}.tmp ${file} && exec sleep 300']);`;
    const parent = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
    let pids: number[] = [];
    try {
      pids = await waitFor('the command to start', () =>
        existsSync(file) ? readFileSync(file, 'utf8').trim().split(' ').map(Number) : undefined,
      );
      assert.ok(pids.every(isAlive), 'launcher and command run');
      parent.kill('SIGKILL');
      await new Promise((resolve) => parent.once('exit', resolve));
      await waitFor('the launcher and its command to die with their parent', () => !pids.some(isAlive) || undefined);
    } finally {
      if (parent.exitCode === null && parent.signalCode === null) parent.kill('SIGKILL');
      for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
