/**
 * Interop proof: Debian's containerd, started on private paths with this service as a proxy
 * snapshotter plugin, imports a busybox image into our snapshots, runs a container on them
 * with `ctr run --rm` (runc), and lists our snapshots with `ctr snapshots ls|tree|usage`.
 */
import { Children, type TempInstance, isAlive, tempInstance, waitFor, waitForService } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ensureDir } from '@ctl/proto/fsutil';
import { WireClient } from '@ctl/proto/wire';
import { SnapshotsClient } from '../src/client';

const run = promisify(execFile);
const REPO = join(__dirname, '..', '..', '..', '..');
const BIN = join(REPO, 'node_modules', '.bin', 'ctl-snapshotter');

function which(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('containerd with this snapshotter as a proxy plugin', function () {
  this.timeout(180_000);
  let tmp: TempInstance;
  const children = new Children();
  let address: string;
  // containerd puts each task's cgroup under /<namespace>/ and leaves that parent behind: a
  // namespace of this run's own lets the test remove exactly what it caused.
  const namespace = `ctl-interop-${process.pid}`;
  const ctr = (...args: string[]) => run('ctr', ['--address', address, '--namespace', namespace, ...args], { timeout: 60_000 });

  before(function () {
    for (const tool of ['containerd', 'ctr', 'runc']) {
      if (!which(tool)) this.skip(); // tools/setup.sh installs them; without them there is nothing to prove against
    }
  });

  beforeEach(() => {
    tmp = tempInstance('ctl-interop-');
    ensureDir(tmp.state);
    address = join(tmp.base, 'containerd.sock');
  });

  afterEach(async () => {
    // containerd first (it holds mounts of our snapshots while a task runs), then our service.
    await children.stopAll(15_000);
    // Whatever containerd left mounted under our temp dir (only ours, by exact prefix).
    const ours = readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(tmp.base));
    for (const m of ours.reverse()) await run('umount', ['-l', m]).catch(() => undefined);
    for (const hierarchy of readdirSync('/sys/fs/cgroup')) {
      const dir = join('/sys/fs/cgroup', hierarchy, namespace);
      if (existsSync(dir)) rmdirSync(dir);
    }
    tmp.remove();
  });

  /** This service on its own socket, with overlayfs (the default) and native. */
  async function startService(args: string[] = []): Promise<{ socket: string; pid: number }> {
    const socket = join(tmp.state, 'snapshotter.sock');
    const service = children.spawn(BIN, ['--socket', socket, '--root', tmp.root, '--state', tmp.state, ...args], {
      ...process.env,
      CTL_SNAPSHOTTER_DRIVERS: 'overlayfs,native',
    });
    await waitForService(socket);
    return { socket, pid: service.process.pid! };
  }

  /** A private containerd with each of `proxies` a [proxy_plugins] entry pointing at socket. */
  async function startContainerd(socket: string, proxies: string[]): Promise<void> {
    const config = join(tmp.base, 'containerd.toml');
    const plugins = proxies.map((name) => `  [proxy_plugins.${name}]\n    type = "snapshot"\n    address = "${socket}"\n`).join('');
    writeFileSync(
      config,
      `version = 2
root = "${tmp.base}/containerd-root"
state = "${tmp.base}/containerd-state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "${address}"
[ttrpc]
  address = "${address}.ttrpc"
[plugins."io.containerd.gc.v1.scheduler"]
  deletion_threshold = 1
  pause_threshold = 0.5
[proxy_plugins]
${plugins}`,
    );
    const containerd = children.spawn('containerd', ['--config', config, '--log-level', 'warn']);
    await waitFor('containerd', () => existsSync(address) || undefined, 30_000).catch((e: Error) => {
      throw new Error(`${e.message}\n${containerd.output()}`);
    });
  }

  it('imports, runs and lists busybox on our snapshots', async () => {
    const service = await startService();
    await startContainerd(service.socket, ['ctl-overlayfs']);

    const image = join(tmp.base, 'busybox.tar');
    await run(join(REPO, 'tools', 'busybox-image.sh'), [image, 'docker.io/library/busybox:interop']);
    await ctr('images', 'import', '--snapshotter', 'ctl-overlayfs', image);

    const hello = await ctr(
      'run',
      '--rm',
      '--snapshotter',
      'ctl-overlayfs',
      'docker.io/library/busybox:interop',
      'interop-1',
      'sh',
      '-c',
      'echo hello from busybox; ls /bin/busybox',
    );
    assert.match(hello.stdout, /hello from busybox/);
    assert.match(hello.stdout, /\/bin\/busybox/);

    const code = await ctr(
      'run',
      '--rm',
      '--snapshotter',
      'ctl-overlayfs',
      'docker.io/library/busybox:interop',
      'interop-2',
      'sh',
      '-c',
      'exit 3',
    ).then(
      () => 0,
      (e: { code?: number }) => e.code,
    );
    assert.equal(code, 3);

    const ls = await ctr('snapshots', '--snapshotter', 'ctl-overlayfs', 'ls');
    assert.match(ls.stdout, /sha256:[0-9a-f]{64}\s+Committed/);
    const tree = await ctr('snapshots', '--snapshotter', 'ctl-overlayfs', 'tree');
    assert.match(tree.stdout, /sha256:[0-9a-f]{64}/);
    const chainId = /sha256:[0-9a-f]{64}/.exec(ls.stdout)![0];
    const usage = await ctr('snapshots', '--snapshotter', 'ctl-overlayfs', 'usage', chainId);
    const size = /sha256:[0-9a-f]{64}\s+(\d+(?:\.\d+)?)\s*([KMG]i?B)/.exec(usage.stdout);
    assert.ok(size, usage.stdout);
    assert.match(size[2]!, /MiB/, 'busybox is a megabyte or two');
    assert.equal(isAlive(service.pid), true);
  });

  it('answers under any proxy_plugins name: unknown names reach the default driver, --proxy-name maps one to a driver', async () => {
    const service = await startService(['--proxy-name', 'mynative=native']);
    await startContainerd(service.socket, ['mysnap', 'mynative']);
    const snapshots = (snapshotter: string, ...args: string[]) => ctr('snapshots', '--snapshotter', snapshotter, ...args);
    await snapshots('mysnap', 'prepare', 'k-mysnap');
    await snapshots('mynative', 'prepare', 'k-mynative');
    assert.match((await snapshots('mysnap', 'ls')).stdout, /k-mysnap\s+Active/);
    assert.match((await snapshots('mynative', 'ls')).stdout, /k-mynative\s+Active/);
    // Which driver holds each: containerd prefixes our keys with its namespace and an id.
    const wire = new WireClient(service.socket);
    try {
      const keysOf = async (driver: string) => {
        const keys: string[] = [];
        await new SnapshotsClient(wire, driver).walk((info) => void keys.push(info.name.split('/').pop()!));
        return keys;
      };
      assert.deepEqual([await keysOf('overlayfs'), await keysOf('native')], [['k-mysnap'], ['k-mynative']]);
      // containerd removes from its backends in its next collection (deletion_threshold = 1); one
      // at a time, as a removal that lands while a collection ends may wait for the next one.
      for (const [name, driver] of [
        ['mysnap', 'overlayfs'],
        ['mynative', 'native'],
      ] as const) {
        await snapshots(name, 'rm', `k-${name}`);
        assert.equal((await snapshots(name, 'ls')).stdout.includes(`k-${name}`), false);
        // The scheduler spaces collections by their length (pause_threshold: at most half the
        // time collecting); under load one collection can take seconds, so the next may wait. A
        // removal that lands as a collection ends may wait for one that nothing schedules (a CI
        // run waited 60 s): while the key is there, a lease deleted with --sync collects now.
        let nudges = 0;
        await waitFor(
          `containerd to remove k-${name} from ${driver}`,
          async () => {
            if ((await keysOf(driver)).length === 0) return true;
            const lease = `gc-nudge-${name}-${nudges++}`;
            await ctr('leases', 'create', '--id', lease);
            await ctr('leases', 'delete', '--sync', lease);
            return undefined;
          },
          60_000,
        );
      }
    } finally {
      wire.close();
    }
    assert.equal(isAlive(service.pid), true);
  });
});
