/**
 * exec and attach end to end, as root on the real kernel: users by name, live output, terminals
 * driven through a real pty, run --init's PID 1, and the gRPC Attach stream.
 */
import { waitFor } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { useEngine } from './engine';
import { CTL } from './helpers';

/**
 * Drives a command on a real pty (python3's pty module: node-pty is not installed): waits for
 * the shell's prompt, asks for tty and stty size, changes the window size and asks again until
 * the new size shows, exits 3. Prints the transcript, then "STATUS <exit code>".
 */
const PTY_DRIVER = `
import fcntl, os, pty, select, struct, sys, termios, time
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
def size(rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
size(30, 90)
out = b''
def until(pat, secs=30):
    global out
    end = time.time() + secs
    while pat not in out:
        if time.time() > end:
            sys.stdout.write(out.decode(errors='replace') + '\\nTIMEOUT waiting for ' + pat.decode())
            sys.exit(1)
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
until(b'# ')
os.write(fd, b'tty; stty size; echo D$((1+1))\\n')
until(b'D2\\r\\n')
size(50, 120)
for i in range(50):
    os.write(fd, ('stty size; echo R$((%d+1000))\\n' % i).encode())
    until(('R%d\\r\\n' % (i + 1000)).encode())
    if b'50 120' in out:
        break
    time.sleep(0.2)
os.write(fd, b'exit 3\\n')
try:
    while True:
        out += os.read(fd, 4096)
except OSError:
    pass
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors='replace') + '\\nSTATUS %d\\n' % os.waitstatus_to_exitcode(status))
`;

describe('ctl exec, attach and --init', function () {
  this.timeout(120_000);
  const engine = useEngine('exec');
  const { run, ok } = engine;

  it('--init: docker-init is PID 1, the command its child; exit codes pass through', () => {
    const out = ok('run', '--rm', '--init', 'busybox', 'sh', '-c', 'tr "\\0" " " </proc/1/cmdline; echo; echo $$');
    const [pid1, self] = out.trim().split('\n');
    assert.equal(pid1!.trim(), '/sbin/docker-init -- sh -c tr "\\0" " " </proc/1/cmdline; echo; echo $$');
    assert.notEqual(self, '1');
    assert.equal(run('run', '--rm', '--init', 'busybox', 'sh', '-c', 'exit 3').code, 3);
    // docker-init is read-only in the container
    assert.notEqual(run('run', '--rm', '--init', 'busybox', 'sh', '-c', 'echo x > /sbin/docker-init').code, 0);
  });

  it('--init reaps orphans and passes SIGTERM on; without it, a PID 1 that does neither leaves zombies and must be killed', async () => {
    // The inner sh leaves an orphan (sleep 0.5) to PID 1; then the command becomes a sleep.
    const cmd = 'sh -c "sleep 0.5 &"; touch /tmp/ready; exec sleep 300';
    const procs = (id: string): string => ok('exec', id, 'ps', '-o', 'pid,stat,args');
    // PID 1's own command line names the orphan too
    const others = (id: string): string[] =>
      procs(id)
        .split('\n')
        .filter((l) => !/^\s*1 /.test(l));
    ok('run', '-d', '--name', 'plain', 'busybox', 'sh', '-c', cmd);
    ok('run', '-d', '--init', '--name', 'inited', 'busybox', 'sh', '-c', cmd);
    for (const id of ['plain', 'inited'])
      await waitFor(`${id} ready`, () => run('exec', id, 'test', '-e', '/tmp/ready').code === 0, 10_000, 200);
    // sleep as PID 1 never waits: the orphan stays a zombie.
    await waitFor('a zombie under a plain PID 1', () => others('plain').some((l) => / Z +\[?sleep/.test(l)), 10_000, 200);
    // docker-init waits for it: it goes away entirely.
    await waitFor('the orphan reaped under --init', () => !others('inited').some((l) => /sleep 0\.5| Z /.test(l)), 10_000, 200);
    assert.match(procs('inited'), /^\s*1 .*\/sbin\/docker-init -- sh -c/m);
    // SIGTERM: docker-init forwards it to sleep, which dies of it (143); PID 1 sleep ignores it (137 after the timeout).
    ok('stop', '-t', '30', 'inited');
    assert.match(ok('ps', '-a'), /inited .*Exited \(143\)/);
    ok('stop', '-t', '1', 'plain');
    assert.match(ok('ps', '-a'), /plain .*Exited \(137\)/);
  });

  it('exec streams output as it comes, stdout and stderr apart, and passes the exit code on', async () => {
    ok('run', '-d', '--name', 'live', 'busybox', 'sleep', '300');
    // "a" then wait for a file the test makes only once it has seen "a": output must be live.
    const child = spawn(
      process.execPath,
      [
        CTL,
        '--root',
        engine.instance.root,
        '--state',
        engine.instance.state,
        'exec',
        'live',
        'sh',
        '-c',
        'echo a; echo err-a >&2; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo b; exit 7',
      ],
      {
        env: { ...process.env, CTL_NO_AUTOSTART: '', ...engine.env },
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const closed = new Promise<number | null>((r) => child.on('close', r));
    try {
      await waitFor('"a" while the exec runs', () => stdout === 'a\n' && stderr === 'err-a\n', 20_000);
      assert.equal(child.exitCode, null, 'still running');
      ok('exec', 'live', 'touch', '/tmp/go');
      assert.equal(await closed, 7);
      assert.deepEqual([stdout, stderr], ['a\nb\n', 'err-a\n']);
    } finally {
      if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
    }
    // quick ones too (the process may be gone before the CLI attaches)
    for (let i = 0; i < 5; i++) {
      const quick = run('exec', 'live', 'sh', '-c', `echo out${i}; echo err${i} >&2; exit ${i}`);
      assert.deepEqual([quick.code, quick.stdout, quick.stderr], [i, `out${i}\n`, `err${i}\n`]);
    }
  });

  it('exec -t gives the process a terminal; -it is interactive and follows the window size', () => {
    ok('run', '-d', '--name', 'term', 'busybox', 'sleep', '300');
    const t = run('exec', '-t', 'term', 'sh', '-c', 'tty; echo $TERM');
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /^\/dev\/pts\/\d+\r\nxterm\r\n$/);
    assert.equal(run('exec', 'term', 'tty').stdout, 'not a tty\n');
    const driven = spawnSync(
      'python3',
      [
        '-c',
        PTY_DRIVER,
        process.execPath,
        CTL,
        '--root',
        engine.instance.root,
        '--state',
        engine.instance.state,
        'exec',
        '-it',
        'term',
        'sh',
      ],
      {
        env: { ...process.env, CTL_NO_AUTOSTART: '', ...engine.env },
        encoding: 'utf8',
        timeout: 90_000,
      },
    );
    const transcript = driven.stdout;
    assert.equal(driven.status, 0, `${transcript}\n${driven.stderr}`);
    assert.match(transcript, /\/dev\/pts\/\d+\r\n30 90\r\nD2\r\n/, transcript);
    assert.match(transcript, /50 120\r\nR\d+\r\n/, transcript);
    assert.match(transcript, /STATUS 3\n$/, transcript);
  });

  it('attach: output from now on, our input as its stdin, its exit code; a stopped container is refused', async () => {
    ok('run', '-di', '--name', 'att', 'busybox', 'sh', '-c', 'read x; echo got $x; echo err >&2; exit 4');
    // The container answers only what reaches it through the attachment, so nothing is missed.
    const child = spawn(process.execPath, [CTL, '--root', engine.instance.root, '--state', engine.instance.state, 'attach', 'att'], {
      env: { ...process.env, CTL_NO_AUTOSTART: '', ...engine.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const closed = new Promise<number | null>((r) => child.on('close', r));
    child.stdin.end('hi\n');
    assert.equal(await closed, 4, stderr);
    assert.deepEqual([stdout, stderr], ['got hi\n', 'err\n']);
    const stopped = run('attach', 'att');
    assert.equal(stopped.code, 1);
    assert.match(stopped.stderr, /cannot attach to a stopped container/);
    assert.equal(run('attach', 'no-such-container').code, 1);
  });

  it('exec names what is wrong as docker does: no such container (1), the command not found (127) or not runnable (126)', () => {
    const noContainer = run('exec', 'no-such-container', 'true');
    assert.deepEqual(
      [noContainer.code, noContainer.stderr],
      [1, 'ctl exec: Error response from daemon: No such container: no-such-container\n'],
    );
    ok('create', '--name', 'idle', 'busybox', 'sleep', '300');
    const notRunning = run('exec', 'idle', 'true');
    assert.deepEqual([notRunning.code, notRunning.stderr], [1, 'ctl exec: Error response from daemon: container idle is not running\n']);
    ok('start', 'idle');
    const missing = run('exec', 'idle', 'no-such-command');
    assert.equal(missing.code, 127, missing.stderr);
    assert.match(missing.stderr, /exec: "no-such-command": executable file not found in \$PATH\n$/);
    const notExecutable = run('exec', '-d', 'idle', '/etc/passwd');
    assert.equal(notExecutable.code, 126, notExecutable.stderr);
    assert.match(notExecutable.stderr, /exec: "\/etc\/passwd": permission denied\n$/);
    for (const r of [missing, notExecutable]) assert.doesNotMatch(r.stderr, /ctl-runtime|ctl-shim/);
  });

  it("exec -u takes names from the container's /etc/passwd and /etc/group; an unknown one is 126", () => {
    ok('run', '-d', '--name', 'users', 'busybox', 'sleep', '300');
    assert.equal(ok('exec', '-u', 'nobody', 'users', 'sh', '-c', 'echo $(id -u) $(id -g)'), '65534 65534\n');
    assert.equal(ok('exec', '-u', 'nobody:root', 'users', 'sh', '-c', 'echo $(id -u) $(id -g)'), '65534 0\n');
    assert.equal(ok('exec', '-u', '123:456', 'users', 'sh', '-c', 'echo $(id -u) $(id -g)'), '123 456\n');
    const unknown = run('exec', '-u', 'nosuch', 'users', 'id');
    assert.equal(unknown.code, 126);
    assert.equal(unknown.stderr, 'ctl exec: unable to find user nosuch: no matching entries in passwd file\n');
    const group = run('exec', '-u', 'nobody:nosuch', 'users', 'id');
    assert.equal(group.code, 126);
    assert.match(group.stderr, /unable to find group nosuch: no matching entries in group file/);
    // The container makes /etc/passwd a link to the host's: it resolves inside the container.
    ok(
      'exec',
      'users',
      'sh',
      '-c',
      'mkdir -p /x/etc && echo ghost:x:4242:4242::/:/bin/sh > /x/etc/passwd && rm /etc/passwd && ln -s /x/etc/passwd /etc/passwd',
    );
    assert.equal(ok('exec', '-u', 'ghost', 'users', 'id', '-u'), '4242\n');
    // A link to a host file the container has no copy of: it must not be read.
    const hostFile = join(engine.instance.base, 'passwd-on-the-host');
    writeFileSync(hostFile, 'intruder:x:4444:4444::/:/bin/sh\n');
    ok('exec', 'users', 'sh', '-c', `rm /etc/passwd && ln -s ../../../../../..${hostFile} /etc/passwd`);
    const escaped = run('exec', '-u', 'intruder', 'users', 'id', '-u');
    assert.equal(escaped.code, 126, escaped.stdout);
    assert.match(escaped.stderr, /unable to find user intruder/);
  });
});

describe('a container whose sockets lie deeper than a unix socket address holds (root)', function () {
  this.timeout(60_000);
  // 70 + 70 characters: the bundle's sockets are over 200 bytes long (sun_path holds 107).
  const engine = useEngine('longpaths', { namespace: `ns-${'n'.repeat(66)}` });
  const { ok, run } = engine;
  const name = `c-${'c'.repeat(68)}`;

  it('runs, attaches and execs with and without a terminal, and leaves no shim behind', () => {
    ok('run', '-d', '--name', name, 'busybox', 'sleep', '300');
    const exec = run('exec', name, 'sh', '-c', 'echo out; echo err >&2; exit 3');
    assert.deepEqual([exec.code, exec.stdout, exec.stderr], [3, 'out\n', 'err\n']);
    const piped = spawnSync(
      process.execPath,
      [CTL, '--root', engine.instance.root, '--state', engine.instance.state, 'run', '--rm', '-i', 'busybox', 'cat'],
      {
        env: { ...process.env, CTL_NO_AUTOSTART: '', ...engine.env },
        input: 'through stdin\n',
        encoding: 'utf8',
      },
    );
    assert.deepEqual([piped.status, piped.stdout], [0, 'through stdin\n'], piped.stderr);
    // A terminal: the shim binds the console socket, the runtime connects to it.
    const onTty = spawnSync(
      'script',
      [
        '-qec',
        `${process.execPath} ${CTL} --root ${engine.instance.root} --state ${engine.instance.state} run --rm -t busybox echo on-a-tty`,
        '/dev/null',
      ],
      {
        env: { ...process.env, CTL_NO_AUTOSTART: '', ...engine.env },
        encoding: 'utf8',
      },
    );
    assert.equal(onTty.status, 0, onTty.stdout + onTty.stderr);
    assert.match(onTty.stdout, /on-a-tty/);
    ok('rm', '-f', name);
    const shims = spawnSync('pgrep', ['-f', `ctl-shim --state-dir ${engine.instance.state}/`], { encoding: 'utf8' }).stdout;
    assert.equal(shims, '', 'a shim outlived its container');
    assert.equal(ok('ps', '-aq'), '');
  });
});
