/**
 * SIGKILL of the daemon in the middle of an import: the layer applier (ctl-apply) dies with it
 * instead of writing the whole layer as an orphan, and the next daemon releases the import's
 * lease, so a collection frees the half-applied snapshot (before, both stayed for the lease's
 * 24 hours). Run under the CLI tests' lock (flock /tmp/cli-tests.lock).
 */
import { WireClient, serviceSocket } from '@ctl/proto';
import { Children, type TempInstance, isAlive, tempInstance, waitFor } from '@ctl/proto/testing';
import { LeasesClient } from '@ctl/containerd-lite/client';
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { bigImage } from './big-image';
import { CTL, ctl, spawnDaemon, stopDaemons } from './helpers';

const LAYER_MIB = 256;
/** A process's name and parent, from /proc/PID/stat. */
function nameAndParent(pid: string | number): { name: string; ppid: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return {
    name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
    ppid: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]),
  };
}

/**
 * The pid of the ctl-apply that `daemon` started and that has opened its input, a blob (so it is
 * past its set-up): a child of the daemon's launcher (ctl-launch, which forks it), or of the daemon.
 */
function applying(daemon: number): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const { name, ppid } = nameAndParent(entry);
      if (name !== 'ctl-apply' || (ppid !== daemon && nameAndParent(ppid).ppid !== daemon)) continue;
      const fds = readdirSync(`/proc/${entry}/fd`).map((fd) => readlinkOr(`/proc/${entry}/fd/${fd}`));
      if (fds.some((target) => target.includes('/content/blobs/sha256/'))) return Number(entry);
    } catch {
      // Gone meanwhile.
    }
  }
  return undefined;
}

const readlinkOr = (link: string): string => {
  try {
    return readlinkSync(link);
  } catch {
    return '';
  }
};

function bytesUnder(dir: string): number {
  return Number(execFileSync('du', ['-s', '-B1', '-x', dir], { encoding: 'utf8' }).split('\t')[0]);
}

describe('daemon killed during an import', function () {
  this.timeout(300_000);
  let instance: TempInstance;
  const children = new Children();
  const ns = `ctl-kill-test-${process.pid}`;
  const env = { ...process.env, CTL_SNAPSHOTTER_DRIVERS: 'overlayfs', CTL_NAMESPACE: ns, CTL_NO_AUTOSTART: '1' };
  const stopped: number[] = [];

  before(() => {
    instance = tempInstance('ctl-kill-');
  });
  after(async () => {
    for (const pid of stopped) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    await children.killAll();
    await stopDaemons(instance);
    instance.remove();
  });

  const startDaemon = () => spawnDaemon(children, instance, env);

  it('kills ctl-apply with the daemon, and the next daemon releases the lease so GC frees the snapshot', async () => {
    const archive = bigImage(instance.base, 'docker.io/library/killed:1', LAYER_MIB);
    const daemon = await startDaemon();
    const daemonPid = daemon.process.pid!;
    const importing = children.spawn(
      process.execPath,
      [CTL, '--root', instance.root, '--state', instance.state, 'image', 'import', archive],
      env,
    );
    const apply = await waitFor('ctl-apply to start', () => applying(daemonPid), 120_000, 5);
    // Stopped, it would write nothing more on its own: only a SIGKILL from the kernel ends it now.
    process.kill(apply, 'SIGSTOP');
    stopped.push(apply);
    daemon.process.kill('SIGKILL');
    await daemon.exited;
    await waitFor('ctl-apply to die with the daemon', () => !isAlive(apply) || undefined, 30_000);
    await importing.exited;

    await startDaemon();
    const wire = new WireClient(serviceSocket(instance, 'containerd-lite'));
    try {
      assert.deepEqual(await new LeasesClient(wire, ns).list(), [], "the dead import's lease is released at start-up");
    } finally {
      wire.close();
    }
    const gc = ctl(instance, ['gc'], env);
    assert.equal(gc.code, 0, gc.stderr);
    const snapshots = ctl(instance, ['snapshot', 'ls', '--format', 'json'], env);
    assert.equal(snapshots.code, 0, snapshots.stderr);
    assert.deepEqual(
      (JSON.parse(snapshots.stdout) as { name: string }[]).filter((s) => s.name.startsWith(`${ns}/`)),
      [],
      'the half-applied snapshot is collected',
    );
    assert.ok(bytesUnder(join(instance.root, 'snapshotter')) < (LAYER_MIB << 20) / 4, 'its bytes are freed');
  });
});
