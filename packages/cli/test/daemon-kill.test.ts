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
import { mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { CTL, ctl, stopDaemons } from './helpers';

const LAYER_MIB = 256;

/** Writes an OCI archive of one image whose one uncompressed layer is a file of random bytes. */
function bigImage(dir: string, name: string): string {
  const layout = join(dir, 'layout');
  const blobs = join(layout, 'blobs', 'sha256');
  mkdirSync(join(dir, 'rootfs'), { recursive: true });
  mkdirSync(blobs, { recursive: true });
  execFileSync('sh', ['-c', `head -c ${LAYER_MIB << 20} /dev/urandom > ${join(dir, 'rootfs', 'big')}`]);
  const layerTar = join(dir, 'layer.tar');
  execFileSync('tar', ['-C', join(dir, 'rootfs'), '--owner=0', '--group=0', '--numeric-owner', '-cf', layerTar, 'big']);
  const layerHex = execFileSync('sha256sum', [layerTar], { encoding: 'utf8' }).split(' ')[0]!;
  const layerSize = Number(execFileSync('stat', ['-c', '%s', layerTar], { encoding: 'utf8' }).trim());
  renameSync(layerTar, join(blobs, layerHex));
  const put = (json: object): { digest: string; size: number } => {
    const bytes = Buffer.from(JSON.stringify(json));
    const hex = createHash('sha256').update(bytes).digest('hex');
    writeFileSync(join(blobs, hex), bytes);
    return { digest: `sha256:${hex}`, size: bytes.length };
  };
  const config = put({
    architecture: 'amd64',
    os: 'linux',
    config: { Cmd: ['sh'] },
    rootfs: { type: 'layers', diff_ids: [`sha256:${layerHex}`] },
  });
  const manifest = put({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${layerHex}`, size: layerSize }],
  });
  writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const platform = { architecture: process.arch === 'arm64' ? 'arm64' : 'amd64', os: 'linux' };
  writeFileSync(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          platform,
          annotations: { 'io.containerd.image.name': name },
        },
      ],
    }),
  );
  const archive = join(dir, 'big.tar');
  execFileSync('tar', ['-C', layout, '-cf', archive, 'oci-layout', 'index.json', 'blobs']);
  execFileSync('rm', ['-rf', layout, join(dir, 'rootfs')]);
  return archive;
}

/** The pids of the children of `parent` whose command is `comm`. */
function childrenNamed(parent: number, comm: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent && name === comm) out.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

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

  async function startDaemon() {
    const daemon = children.spawn(process.execPath, [CTL, '--root', instance.root, '--state', instance.state, 'daemon'], env);
    await waitFor('daemon ready', () => daemon.output().includes('"daemon ready"') || undefined, 30_000);
    return daemon;
  }

  it('kills ctl-apply with the daemon, and the next daemon releases the lease so GC frees the snapshot', async () => {
    const archive = bigImage(instance.base, 'docker.io/library/killed:1');
    const daemon = await startDaemon();
    const daemonPid = daemon.process.pid!;
    const importing = children.spawn(
      process.execPath,
      [CTL, '--root', instance.root, '--state', instance.state, 'image', 'import', archive],
      env,
    );
    const apply = await waitFor('ctl-apply to start', () => childrenNamed(daemonPid, 'ctl-apply')[0], 120_000, 5);
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
