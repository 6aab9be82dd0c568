/**
 * `ctl run` and the container commands end to end, as root on the real kernel, from the busybox
 * image that tools/busybox-image.sh makes: exit codes, environment, mounts, limits that really
 * bite, logs, exec, stop, a daemon killed while containers run, many containers at once, and
 * bad input that must leave nothing behind.
 */
import { waitFor } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { useEngine } from './engine';
import { daemonPids, stopDaemons } from './helpers';

describe('ctl run and the container commands', function () {
  this.timeout(120_000);
  const engine = useEngine('run');
  const { ns, run, ok, start, containers, ourSnapshots } = engine;

  it('runs a command and exits with its code; 125, 126, 127 for what is not the command', () => {
    const hello = run('run', '--rm', 'busybox', 'echo', 'hello');
    assert.equal(hello.code, 0, hello.stderr);
    assert.equal(hello.stdout, 'hello\n');
    assert.equal(run('run', '--rm', 'busybox', 'sh', '-c', 'exit 3').code, 3);
    // In docker's words about the container's command, never naming our own binaries.
    const missing = run('run', '--rm', 'busybox', 'no-such-command');
    assert.equal(missing.code, 127);
    assert.match(missing.stderr, /^ctl run: .*exec: "no-such-command": executable file not found in \$PATH\n$/);
    const missingPath = run('run', '--rm', 'busybox', '/no/such');
    assert.equal(missingPath.code, 127);
    assert.match(missingPath.stderr, /exec: "\/no\/such": stat \/no\/such: no such file or directory\n$/);
    const notExecutable = run('run', '--rm', 'busybox', '/etc/passwd');
    assert.equal(notExecutable.code, 126, notExecutable.stderr);
    assert.match(notExecutable.stderr, /^ctl run: .*exec: "\/etc\/passwd": permission denied\n$/);
    const directory = run('run', '--rm', 'busybox', '/bin');
    assert.equal(directory.code, 126, directory.stderr);
    for (const r of [missing, missingPath, notExecutable, directory]) assert.doesNotMatch(r.stderr, /ctl-runtime|ctl-shim/);
    const noImage = run('run', '--rm', '--pull', 'never', 'no-such-image', 'true');
    assert.equal(noImage.code, 125);
    assert.match(noImage.stderr, /No such image: no-such-image:latest/);
    assert.deepEqual(containers(), [], '--rm and failures leave no container');
    assert.deepEqual(ourSnapshots(), [], 'nor a snapshot');
  });

  it("unpacks the image again when its layers' snapshots are gone, and then runs on them", () => {
    const layers = (): string[] =>
      (JSON.parse(ok('snapshot', 'ls', '--format', 'json')) as { name: string }[])
        .map((s) => s.name)
        .filter((n) => n.startsWith(`${ns}/sha256:`));
    assert.equal(run('run', '--rm', 'busybox', 'true').code, 0);
    const before = layers();
    assert.ok(before.length > 0);
    for (const name of [...before].reverse()) ok('snapshot', 'rm', name);
    assert.deepEqual(layers(), []);
    const r = run('run', '--rm', 'busybox', 'cat', '/etc/passwd');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^root:/);
    assert.deepEqual(layers().sort(), [...before].sort());
    assert.equal(run('run', '--rm', 'busybox', 'true').code, 0);
    assert.deepEqual(ourSnapshots(), []);
  });

  it('starts the daemon when ctl run is the first command (no daemon answers)', async () => {
    await stopDaemons(engine.instance);
    const r = run('run', '--rm', 'busybox', 'echo', 'first');
    assert.deepEqual([r.code, r.stdout], [0, 'first\n'], r.stderr);
    assert.equal(daemonPids(engine.instance).length, 1);
  });

  it('runs and removes containers without a garbage collection each time (nothing becomes collectable)', async () => {
    const log = join(engine.instance.state, 'daemon.log');
    const collections = (): number =>
      readFileSync(log, 'utf8')
        .split('\n')
        .filter((l) => l.includes('"garbage collected"')).length;
    await new Promise((r) => setTimeout(r, 500)); // past any collection scheduled before
    const before = collections();
    for (let i = 0; i < 3; i++) ok('run', '--rm', 'busybox', 'true');
    await new Promise((r) => setTimeout(r, 500)); // a scheduled one runs 200 ms after its cause
    assert.equal(collections(), before);
    assert.deepEqual(ourSnapshots(), [], 'and nothing is left to collect');
  });

  it('takes env and workdir from the image and from flags', () => {
    const out = ok(
      'run',
      '--rm',
      '-e',
      'FOO=bar',
      '-w',
      '/tmp',
      '--hostname',
      'box',
      'busybox',
      'sh',
      '-c',
      'echo $FOO $PATH; pwd; hostname',
    );
    const [vars, pwd, host] = out.trim().split('\n');
    assert.match(vars!, /^bar \/usr\/local\/sbin:/);
    assert.equal(pwd, '/tmp');
    assert.equal(host, 'box');
    assert.equal(ok('run', '--rm', 'busybox', 'pwd').trim(), '/');
  });

  it('keeps data in a bind mount across containers, and honours :ro and --read-only', () => {
    const data = join(engine.instance.base, 'data');
    mkdirSync(data);
    ok('run', '--rm', '-v', `${data}:/data`, 'busybox', 'sh', '-c', 'echo kept > /data/file');
    assert.equal(ok('run', '--rm', '-v', `${data}:/data:ro`, 'busybox', 'cat', '/data/file'), 'kept\n');
    assert.notEqual(run('run', '--rm', '-v', `${data}:/data:ro`, 'busybox', 'touch', '/data/x').code, 0);
    const ro = run('run', '--rm', '--read-only', 'busybox', 'touch', '/x');
    assert.equal(ro.code, 1);
    assert.match(ro.stderr, /Read-only file system/);
  });

  it('weighs block I/O with --blkio-weight where the kernel can, and otherwise warns and discards it (as docker)', () => {
    const weightFile = ['blkio.bfq.weight', 'blkio.weight'].find((f) => existsSync(`/sys/fs/cgroup/blkio/${f}`));
    const r = run('run', '-d', '--name', 'weighed', '--blkio-weight', '300', 'busybox', 'sleep', '60');
    try {
      assert.equal(r.code, 0, r.stderr);
      if (weightFile) {
        const blkio = engine.cgroupDirs('weighed').find((d) => d.includes('/blkio/'))!;
        assert.equal(readFileSync(join(blkio, weightFile), 'utf8').trim().split(/\s+/).pop(), '300');
        assert.doesNotMatch(r.stderr, /WARNING/);
      } else {
        assert.match(
          r.stderr,
          /^WARNING: Your kernel does not support Block I\/O weight or the cgroup is not mounted\. Weight discarded\.$/m,
        );
      }
    } finally {
      run('rm', '-f', 'weighed');
    }
  });

  it('kills a memory hog (137, OOMKilled) and holds a fork bomb with --pids-limit', () => {
    const hog = run('run', '--name', 'hog', '--memory', '32m', 'busybox', 'sh', '-c', 'x=a; while true; do x=$x$x; done');
    assert.equal(hog.code, 137);
    const [state] = JSON.parse(ok('inspect', 'hog')) as { State: { OOMKilled: boolean; ExitCode: number } }[];
    assert.deepEqual([state!.State.OOMKilled, state!.State.ExitCode], [true, 137]);
    const forks = run('run', '--rm', '--pids-limit', '10', 'busybox', 'sh', '-c', 'for i in $(seq 30); do sleep 5 & done; wait');
    assert.notEqual(forks.code, 0);
    assert.match(forks.stderr, /can't fork/);
  });

  it('follows logs, execs into a running container, and stops one that ignores SIGTERM', async () => {
    ok('run', '-d', '--name', 'talker', 'busybox', 'sh', '-c', 'for i in 1 2 3; do echo line $i; sleep 0.2; done');
    assert.equal(ok('logs', '-f', 'talker'), 'line 1\nline 2\nline 3\n');
    assert.equal(ok('logs', '--tail', '1', 'talker'), 'line 3\n');
    assert.match(ok('ps', '-a'), /talker .*Exited \(0\)/);

    ok('run', '-d', '--name', 'sleeper', 'busybox', 'sleep', '300');
    assert.match(ok('ps'), /sleeper .*Up/);
    const exec = run('exec', '-e', 'X=1', 'sleeper', 'sh', '-c', 'echo in $X; exit 4');
    assert.deepEqual([exec.code, exec.stdout], [4, 'in 1\n']);
    // PID 1 without a handler ignores SIGTERM: stop waits the timeout, then SIGKILL.
    const t = Date.now();
    ok('stop', '-t', '1', 'sleeper');
    const took = Date.now() - t;
    assert.ok(took >= 900 && took < 8000, `stop took ${took} ms`);
    assert.match(ok('ps', '-a'), /sleeper .*Exited \(137\)/);
    const stopped = run('exec', 'sleeper', 'true');
    assert.equal(stopped.code, 1);
    assert.match(stopped.stderr, /not running/);
  });

  it('keeps containers running through a SIGKILL of the daemon, and reports exits that happened meanwhile', async () => {
    for (let i = 0; i < 5; i++) ok('run', '-d', '--name', `keep${i}`, 'busybox', 'sleep', '300');
    ok('run', '-d', '--name', 'quitter', 'busybox', 'sh', '-c', 'sleep 1; exit 7');
    const pids = daemonPids(engine.instance);
    assert.ok(pids.length > 0);
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 1500));
    // The next command starts a new daemon, which finds the shims.
    const ps = ok('ps', '-a');
    for (let i = 0; i < 5; i++) assert.match(ps, new RegExp(`keep${i} .*Up`));
    assert.match(ps, /quitter .*Exited \(7\)/);
    ok('stop', '-t', '0', 'keep0');
    assert.match(ok('ps', '-a'), /keep0 .*Exited \(137\)/);
  });

  it("removes a detached --rm container once it exits (docker's AutoRemove), also an exit it finds when it starts", async () => {
    const before = ourSnapshots();
    ok('run', '-d', '--name', 'stays', 'busybox', 'true');
    ok('run', '-d', '--rm', '--name', 'goes', 'busybox', 'true');
    await waitFor('goes removed', () => (/\bgoes\b/.test(ok('ps', '-a')) ? undefined : true));
    // It exits while no daemon runs: the next daemon finds the exit and removes it.
    ok('run', '-d', '--rm', '--name', 'later', 'busybox', 'sleep', '2');
    for (const pid of daemonPids(engine.instance)) process.kill(pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 3000));
    await waitFor('later removed', () => (/\blater\b/.test(ok('ps', '-a')) ? undefined : true));
    assert.match(ok('ps', '-a'), /stays .*Exited \(0\)/);
    ok('rm', 'stays');
    assert.deepEqual(ourSnapshots(), before);
  });

  it('starts 50 containers in parallel and removes them cleanly', async () => {
    const started = await Promise.all(
      Array.from({ length: 50 }, (_, i) => start('run', '-d', '--name', `many${i}`, 'busybox', 'sleep', '300')),
    );
    for (const r of started) assert.equal(r.code, 0, r.stderr);
    assert.equal(ok('ps', '-q').split('\n').filter(Boolean).length, 50);
    const removed = await Promise.all(Array.from({ length: 50 }, (_, i) => start('rm', '-f', `many${i}`)));
    for (const r of removed) assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(containers(), []);
    assert.deepEqual(ourSnapshots(), []);
    await waitFor('tasks gone', () =>
      readdirSync(join(engine.instance.state, 'containerd-lite', 'tasks', ns)).length === 0 ? true : undefined,
    );
  });

  it('refuses bad input clearly and leaves nothing half-made', () => {
    const before = ourSnapshots();
    const badMemory = run('run', '--memory', 'lots', 'busybox', 'true');
    assert.deepEqual([badMemory.code, /--memory: invalid size "lots"/.test(badMemory.stderr)], [125, true]);
    const badVolume = run('run', '-v', './relative:/data', 'busybox', 'true');
    assert.equal(badVolume.code, 125);
    assert.match(badVolume.stderr, /-v \.\/relative:\/data: "\.\/relative" is not a valid volume name/);
    ok('run', '-d', '--name', 'taken', 'busybox', 'sleep', '300');
    const clash = run('run', '--name', 'taken', 'busybox', 'true');
    assert.equal(clash.code, 125);
    assert.match(clash.stderr, /"taken" is already in use/);
    const rmRunning = run('rm', 'taken');
    assert.equal(rmRunning.code, 1);
    assert.match(rmRunning.stderr, /is running: stop it first, or remove it with -f/);
    assert.deepEqual(containers(), ['taken']);
    assert.deepEqual(ourSnapshots(), [...before, `${ns}/taken`].sort());
    ok('rm', '-f', 'taken');
    assert.deepEqual(ourSnapshots(), before);
  });
});
