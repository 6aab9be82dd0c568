/**
 * Interop: Debian's containerd (1.6) with ctl-runtime as its runc binary (runc options
 * BinaryName, via `ctr run --runc-binary`), on private root/state/socket paths. The image is a
 * busybox OCI archive made here and imported from a local tar.
 */
import * as assert from 'node:assert/strict';
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RUNTIME_BINARY } from '../src';
import { BUSYBOX, isRoot, until } from './helpers';

const IMAGE = 'docker.io/library/busybox:ctl-test';

function which(bin: string): boolean {
  return ['/usr/bin', '/usr/sbin', '/bin', '/sbin', '/usr/local/bin'].some((d) => fs.existsSync(path.join(d, bin)));
}

function blob(dir: string, data: Buffer): { digest: string; size: number } {
  const hex = createHash('sha256').update(data).digest('hex');
  fs.writeFileSync(path.join(dir, 'blobs', 'sha256', hex), data);
  return { digest: `sha256:${hex}`, size: data.length };
}

/** An OCI image archive (oci-layout + index.json + blobs) of a busybox rootfs. */
function busyboxArchive(work: string): string {
  const layer = path.join(work, 'layer');
  fs.mkdirSync(path.join(layer, 'bin'), { recursive: true });
  for (const d of ['proc', 'sys', 'dev', 'tmp', 'etc', 'run']) fs.mkdirSync(path.join(layer, d));
  fs.copyFileSync(BUSYBOX, path.join(layer, 'bin', 'busybox'));
  fs.chmodSync(path.join(layer, 'bin', 'busybox'), 0o755);
  for (const a of execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n')) {
    if (a && a !== 'busybox') fs.symlinkSync('busybox', path.join(layer, 'bin', a));
  }
  const img = path.join(work, 'img');
  fs.mkdirSync(path.join(img, 'blobs', 'sha256'), { recursive: true });
  const layerTar = execFileSync('tar', ['-C', layer, '-cf', '-', '.'], { maxBuffer: 64 << 20 });
  const l = blob(img, layerTar);
  const config = blob(
    img,
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: { Env: ['PATH=/bin'], Cmd: ['sh'] },
        rootfs: { type: 'layers', diff_ids: [l.digest] },
      }),
    ),
  );
  const manifest = blob(
    img,
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...l }],
      }),
    ),
  );
  fs.writeFileSync(path.join(img, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(
    path.join(img, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          annotations: { 'io.containerd.image.name': IMAGE, 'org.opencontainers.image.ref.name': 'ctl-test' },
        },
      ],
    }),
  );
  const out = path.join(work, 'busybox-oci.tar');
  execFileSync('tar', ['-C', img, '-cf', out, '.']);
  return out;
}

function ctrCmd(sock: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('ctr', ['-a', sock, ...args], { timeout: 20000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('containerd with ctl-runtime as its runc binary (root, real kernel)', function () {
  let work = '';
  let containerd: ChildProcess | undefined;
  let sock = '';
  let runcRoot = '';
  const runFlags = () => ['--runc-binary', RUNTIME_BINARY, '--runc-root', runcRoot];
  const ctr = (...args: string[]) => ctrCmd(sock, args);

  before(async function () {
    if (!isRoot || !fs.existsSync(BUSYBOX) || !['containerd', 'ctr', 'containerd-shim-runc-v2', 'tar'].every(which)) this.skip();
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'ctl-rt-containerd-'));
    sock = path.join(work, 'containerd.sock');
    runcRoot = path.join(work, 'runc');
    const config = [
      'version = 2',
      `root = "${work}/root"`,
      `state = "${work}/state"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]',
      '[grpc]',
      `  address = "${sock}"`,
      '[ttrpc]',
      `  address = "${sock}.ttrpc"`,
      '[debug]',
      '  address = ""',
      '[metrics]',
      '  address = ""',
    ].join('\n');
    fs.writeFileSync(path.join(work, 'config.toml'), config);
    const log = fs.openSync(path.join(work, 'containerd.log'), 'a');
    containerd = spawn('containerd', ['--config', path.join(work, 'config.toml')], { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    await until(() => fs.existsSync(sock), 50);
    const imp = await ctr('images', 'import', busyboxArchive(work));
    assert.equal(imp.code, 0, imp.stderr);
  });

  afterEach(async () => {
    if (!sock) return;
    for (const id of ['rc1', 'rc2']) {
      await ctr('task', 'kill', '-s', 'KILL', id);
      await ctr('task', 'delete', '-f', id);
      await ctr('container', 'rm', id);
    }
  });

  after(async function () {
    this.timeout(30000);
    if (containerd?.pid) {
      const exited = new Promise((r) => containerd!.once('exit', r));
      containerd.kill('SIGTERM');
      await exited;
    }
    if (!work) return;
    // unmount whatever containerd left mounted under its private root, then remove it all
    const mounts = fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4])
      .filter((m) => m?.startsWith(work));
    for (const m of mounts.reverse()) execFileSync('umount', ['-l', m]);
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('ctr run --rm prints what the container prints and exits with its code', async () => {
    const r = await ctr('run', '--rm', ...runFlags(), IMAGE, 'rc1', 'sh', '-c', 'echo hello from pid $$; exit 3');
    assert.equal(r.stdout, 'hello from pid 1\n');
    assert.equal(r.code, 3, r.stderr);
    assert.deepEqual(fs.readdirSync(path.join(runcRoot, 'default')), [], 'the runtime state is gone');
  });

  it('a detached task: exec, ps, pause, resume, kill, delete through containerd', async () => {
    const run = await ctr('run', '-d', ...runFlags(), IMAGE, 'rc2', 'sleep', '1000');
    assert.equal(run.code, 0, run.stderr);
    const ex = await ctr('task', 'exec', '--exec-id', 'e1', 'rc2', 'sh', '-c', 'echo exec-ok; exit 4');
    assert.equal(ex.stdout, 'exec-ok\n');
    assert.equal(ex.code, 4);
    const ps = await ctr('task', 'ps', 'rc2');
    assert.equal(ps.code, 0, ps.stderr);
    assert.equal(ps.stdout.trim().split('\n').length, 2, ps.stdout);
    assert.equal((await ctr('task', 'pause', 'rc2')).code, 0);
    assert.match((await ctr('task', 'ls')).stdout, /rc2\s+\d+\s+PAUSED/);
    assert.equal((await ctr('task', 'resume', 'rc2')).code, 0);
    assert.match((await ctr('task', 'ls')).stdout, /rc2\s+\d+\s+RUNNING/);
    assert.equal((await ctr('task', 'kill', '-s', 'KILL', 'rc2')).code, 0);
    await until(() => !/RUNNING/.test(execFileSync('ctr', ['-a', sock, 'task', 'ls'], { encoding: 'utf8' })), 50);
    const del = await ctr('task', 'delete', 'rc2');
    assert.equal(del.code, 0, del.stderr);
    assert.equal((await ctr('container', 'rm', 'rc2')).code, 0);
    assert.ok(!fs.existsSync('/sys/fs/cgroup/memory/default/rc2'), 'the cgroup is gone');
  });

  it('terminals: ctr run -t and ctr task exec -t (console socket protocol, through script(1) for a pty)', async function () {
    if (!which('script')) this.skip();
    const inPty = (cmd: string[]) =>
      new Promise<{ code: number; out: string }>((resolve) => {
        const line = ['ctr', '-a', sock, ...cmd].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
        execFile('script', ['-qec', line, '/dev/null'], { timeout: 20000 }, (err, stdout) =>
          resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: stdout }),
        );
      });
    const run = await inPty(['run', '--rm', '-t', ...runFlags(), IMAGE, 'rc1', 'sh', '-c', 'tty; exit 2']);
    assert.match(run.out, /\/dev\/pts\/0/);
    assert.equal(run.code, 2);
    assert.equal((await ctr('run', '-d', ...runFlags(), IMAGE, 'rc2', 'sleep', '1000')).code, 0);
    const ex = await inPty(['task', 'exec', '-t', '--exec-id', 'e2', 'rc2', 'sh', '-c', 'test -t 0 && echo exec-tty; exit 4']);
    assert.match(ex.out, /exec-tty/);
    assert.equal(ex.code, 4);
  });

  it('a memory limit set through containerd OOM-kills a hog: exit 137', async () => {
    const r = await ctr(
      'run',
      '--rm',
      '--memory-limit',
      String(32 << 20),
      ...runFlags(),
      IMAGE,
      'rc1',
      'dd',
      'if=/dev/zero',
      'of=/dev/null',
      'bs=128M',
      'count=1',
    );
    assert.equal(r.code, 137, r.stderr);
  });
});
