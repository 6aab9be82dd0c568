import { ErrorKind, WireClient, isKind, serviceSocket, wireMethod } from '@ctl/proto';
import { Children, type TempInstance, isAlive, tempInstance, waitFor } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DAEMON_ENV, DAEMON_NODE_FLAGS } from '../src/daemon-process';
import { BIN, CTL, ctl, daemonPids, stopDaemons } from './helpers';

const SERVICES = ['containerd-lite', 'snapshotter', 'netd'] as const;
const version = () =>
  wireMethod<object, { version: string }>('containerd/services/version/v1/version', 'containerd.services.version.v1.Version', 'Version');

async function versionOf(socket: string): Promise<string> {
  const client = new WireClient(socket);
  try {
    return (await client.unary(version(), {}, { timeoutMs: 5000 })).version;
  } finally {
    client.close();
  }
}

function daemonArgs(instance: TempInstance): string[] {
  return [CTL, '--root', instance.root, '--state', instance.state, 'daemon', '--log-level', 'info'];
}

describe('ctl daemon', function () {
  this.timeout(60_000);
  let instance: TempInstance;
  const children = new Children();

  beforeEach(() => {
    instance = tempInstance();
  });
  afterEach(async () => {
    await children.killAll();
    await stopDaemons(instance);
    instance.remove();
  });

  async function startDaemon() {
    const daemon = children.spawn(process.execPath, daemonArgs(instance));
    await waitFor('daemon ready', () => daemon.output().includes('"daemon ready"') || undefined, 20_000).catch((e: Error) => {
      throw new Error(`${e.message}\n${daemon.output()}`);
    });
    return daemon;
  }

  it('serves Version on all three sockets and cleans up on SIGTERM', async () => {
    const daemon = await startDaemon();
    for (const name of SERVICES) assert.match(await versionOf(serviceSocket(instance, name)), /^\d+\.\d+\.\d+/, name);
    daemon.process.kill('SIGTERM');
    const { code } = await daemon.exited;
    assert.equal(code, 0, daemon.output());
    assert.deepEqual(
      readdirSync(instance.state).filter((f) => f.endsWith('.sock')),
      [],
    );
    assert.equal(isAlive(daemon.process.pid!), false);
  });

  it('refuses a second daemon on the same sockets; the first keeps serving', async () => {
    await startDaemon();
    const second = children.spawn(process.execPath, daemonArgs(instance));
    const { code } = await second.exited;
    assert.equal(code, 1);
    assert.match(second.output(), /socket .*\.sock is (in use by another running daemon|held by a live process)/);
    for (const name of SERVICES) assert.match(await versionOf(serviceSocket(instance, name)), /^\d/);
  });

  it('starts a daemon when none answers, and reuses it afterwards', async () => {
    const first = ctl(instance, ['version']);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /Client:\n {2}Version: {2}\d/);
    for (const name of SERVICES) assert.match(first.stdout, new RegExp(`${name}:\\n  Version:  \\d`));
    const pids = daemonPids(instance);
    assert.equal(pids.length, 1);
    assert.equal(isAlive(pids[0]!), true, 'the daemon outlives the command that started it');
    // Its memory settings (daemon-process.ts), unless the caller's environment says otherwise.
    const argv = readFileSync(`/proc/${pids[0]}/cmdline`, 'utf8').split('\0');
    for (const flag of DAEMON_NODE_FLAGS) assert.ok(argv.includes(flag), `${flag} in ${argv.join(' ')}`);
    const environ = readFileSync(`/proc/${pids[0]}/environ`, 'utf8').split('\0');
    for (const [key, value] of Object.entries(DAEMON_ENV)) assert.ok(environ.includes(`${key}=${process.env[key] ?? value}`), key);
    const second = ctl(instance, ['version', '--format', 'json']);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(JSON.parse(second.stdout).services.snapshotter.version, JSON.parse(second.stdout).client.version);
    assert.deepEqual(daemonPids(instance), pids, 'no second daemon');
  });

  it('starts exactly one daemon when several commands find none at once', async () => {
    const runs = await Promise.all(
      Array.from({ length: 6 }, () => {
        const c = children.spawn(process.execPath, [
          CTL,
          '--root',
          instance.root,
          '--state',
          instance.state,
          'version',
          '--format',
          'json',
        ]);
        return c.exited.then(({ code }) => ({ code, output: c.output() }));
      }),
    );
    for (const r of runs) assert.equal(r.code, 0, r.output);
    assert.equal(daemonPids(instance).filter(isAlive).length, 1);
  });

  it('does not start a daemon with --no-autostart or CTL_NO_AUTOSTART=1', async () => {
    for (const run of [ctl(instance, ['--no-autostart', 'version']), ctl(instance, ['version'], { CTL_NO_AUTOSTART: '1' })]) {
      assert.equal(run.code, 1);
      assert.match(run.stderr, /no daemon answers on .*containerd-lite\.sock and autostart is off/);
    }
    assert.deepEqual(daemonPids(instance), []);
    assert.equal(existsSync(serviceSocket(instance, 'containerd-lite')), false);
  });

  it('replaces stale sockets left by a killed daemon', async () => {
    const daemon = await startDaemon();
    daemon.process.kill('SIGKILL');
    await daemon.exited;
    for (const name of SERVICES) assert.equal(existsSync(serviceSocket(instance, name)), true, `${name} socket left behind`);
    const run = ctl(instance, ['version']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(daemonPids(instance).filter(isAlive).length, 1);
  });

  it('names the path when the state directory cannot hold sockets', async () => {
    const run = ctl({ ...instance, state: '/proc/ctl-test-state' }, ['daemon']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /\/proc\/ctl-test-state/);
  });

  it('manages namespaces through containerd-lite', async () => {
    assert.equal(ctl(instance, ['version']).code, 0);
    assert.equal(ctl(instance, ['namespace', 'create', 'team-a', 'owner=me']).code, 0);
    const dup = ctl(instance, ['namespace', 'create', 'team-a']);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /namespace "team-a" already exists/);
    const ls = ctl(instance, ['namespace', 'ls', '--format', 'json']);
    assert.deepEqual(JSON.parse(ls.stdout), [{ name: 'team-a', labels: { owner: 'me' } }]);
    assert.equal(ctl(instance, ['ns', 'rm', 'team-a']).code, 0);
    const gone = ctl(instance, ['ns', 'rm', 'team-a']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /namespace "team-a" not found/);
    const bad = ctl(instance, ['ns', 'create', '../x']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /namespace "..\/x"/);
  });
});

describe('service binaries', function () {
  this.timeout(60_000);
  let instance: TempInstance;
  const children = new Children();
  const binaries = { 'containerd-lite': 'containerd-lite', snapshotter: 'ctl-snapshotter', netd: 'ctl-netd' } as const;
  const binPath = (name: string) => join(BIN, name);

  beforeEach(() => {
    instance = tempInstance();
  });
  afterEach(async () => {
    await children.killAll();
    instance.remove();
  });

  for (const [service, binary] of Object.entries(binaries)) {
    it(`${binary} serves Version on --socket and cleans up on SIGTERM`, async () => {
      mkdirSync(instance.state, { recursive: true });
      const socket = `${instance.state}/custom-${service}.sock`;
      const proc = children.spawn(binPath(binary), [
        '--socket',
        socket,
        '--root',
        instance.root,
        '--state',
        instance.state,
        '--log-level',
        'debug',
      ]);
      await waitFor(`${binary} serving`, () => proc.output().includes('"serving"') || undefined, 20_000);
      assert.match(proc.output(), /^\{.*"level":"info".*\}$/m, 'JSON log lines');
      assert.match(await versionOf(socket), /^\d+\.\d+\.\d+/);
      assert.equal(existsSync(`${instance.root}/${service}/meta`), true, 'its own database under the root');
      proc.process.kill('SIGTERM');
      assert.equal((await proc.exited).code, 0);
      assert.equal(existsSync(socket), false);
    });
  }

  it('reads CTL_SOCKET, CTL_ROOT and CTL_STATE', async () => {
    const socket = `${instance.base}/env.sock`;
    const proc = children.spawn(binPath('ctl-netd'), [], {
      ...process.env,
      CTL_SOCKET: socket,
      CTL_ROOT: instance.root,
      CTL_STATE: instance.state,
    });
    await waitFor('ctl-netd serving', () => proc.output().includes('"serving"') || undefined, 20_000);
    assert.match(await versionOf(socket), /^\d/);
    assert.equal(existsSync(`${instance.root}/netd/meta`), true);
  });

  it('fails clearly on a socket in a missing directory, and on bad flags', async () => {
    const missing = children.spawn(binPath('ctl-snapshotter'), [
      '--socket',
      '/nonexistent-ctl-dir/s.sock',
      '--root',
      instance.root,
      '--state',
      instance.state,
    ]);
    assert.equal((await missing.exited).code, 1);
    assert.match(missing.output(), /cannot listen on \/nonexistent-ctl-dir\/s\.sock: directory \/nonexistent-ctl-dir does not exist/);
    const bad = children.spawn(binPath('containerd-lite'), ['--bogus']);
    assert.equal((await bad.exited).code, 2);
    assert.match(bad.output(), /Usage: containerd-lite/);
    const level = children.spawn(binPath('ctl-netd'), ['--log-level', 'loud']);
    assert.equal((await level.exited).code, 2);
    assert.match(level.output(), /unknown log level "loud"/);
  });

  it('names the directory when the socket directory is not writable', async () => {
    const ro = join(instance.base, 'ro');
    mkdirSync(ro);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', ro]);
    try {
      const proc = children.spawn(binPath('ctl-netd'), [
        '--socket',
        join(ro, 'n.sock'),
        '--root',
        instance.root,
        '--state',
        instance.state,
      ]);
      assert.equal((await proc.exited).code, 1);
      assert.match(proc.output(), new RegExp(`cannot listen on ${ro}/n\\.sock: directory ${ro} is not writable`));
    } finally {
      execFileSync('umount', [ro]);
    }
  });

  it('is not fooled by an unreachable daemon: Unavailable, not a hang', async () => {
    await assert.rejects(versionOf(serviceSocket(instance, 'netd')), (e: unknown) => isKind(e, ErrorKind.Unavailable));
  });
});
