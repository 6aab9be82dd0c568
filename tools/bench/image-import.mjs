#!/usr/bin/env node
// Image import + unpack, side by side in one run on the same archive and the same file system:
// `ctl image import` (daemon already running) against Debian's containerd (`ctr images import`,
// overlayfs snapshotter, runc not involved) and against `tar -xzf` of the same layer as a floor.
// The image is synthetic: one gzip layer of about 100 MB in about 5,000 files (half random,
// half text-like bytes, so gzip has work to do), built once per run of this script.
//
// Every contender starts each round from the same state: a clean-up step removes what the
// previous round made (image rm + synchronous GC for the engines, rm -rf for tar). This disk's
// ext4 slows down for a while after many deletions, so contenders alternate round by round
// (each round runs the three in a rotating order), and BENCH_FS=tmpfs puts all three
// on one tmpfs instead. Prints medians, ratios (targets: ctl <= 0.5x containerd, <= 1.2x tar)
// and the daemon's peak resident memory (target < 200 MB).
//
//   node tools/bench/image-import.mjs            # on ext4 under /var/tmp
//   BENCH_FS=tmpfs node tools/bench/image-import.mjs
//   BENCH_IMAGE=DIR: build the image into DIR once (image.tar, layer.tar.gz) and reuse it later
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { startContainerd } from './lib/containerd.mjs';
import { waitFor } from './lib/ctl.mjs';
import { bytesFrom } from './lib/stats.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// The image layout writer the CLI's tests use too (built @ctl/proto).
const { ociLayout, sha256Digest } = createRequire(join(repo, 'packages', 'cli', 'package.json'))('@ctl/proto/testing');
const FS = process.env.BENCH_FS ?? 'disk';
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const FILES = Number(process.env.BENCH_FILES ?? 5000);
const TOTAL = Number(process.env.BENCH_BYTES ?? 100e6);
const ctl = join(repo, 'node_modules', '.bin', 'ctl');

const base = mkdtempSync(join(FS === 'tmpfs' ? '/tmp' : '/var/tmp', 'ctl-bench-import-'));
if (FS === 'tmpfs') execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6g', 'tmpfs', base]);
const children = [];
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;

const fileDigest = (path) => sha256Digest(readFileSync(path));

function buildImage(dir) {
  const rootfs = join(dir, 'rootfs');
  const words = Buffer.from(
    'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua\n',
  );
  const rand = bytesFrom(42);
  const mean = TOTAL / FILES;
  for (let i = 0; i < FILES; i++) {
    const sub = join(rootfs, `d${i % 50}`, `e${i % 7}`);
    mkdirSync(sub, { recursive: true });
    const size = Math.floor(mean * (0.1 + 1.8 * ((rand.next().value % 1000) / 1000)));
    const buf = Buffer.alloc(size);
    const half = Math.floor(size / 2);
    for (let o = 0; o + 4 <= half; o += 4) buf.writeUInt32LE(rand.next().value, o);
    for (let o = half; o < size; o += words.length) words.copy(buf, o, 0, Math.min(words.length, size - o));
    const fd = openSync(join(sub, `f${i}.dat`), 'w');
    writeSync(fd, buf);
    closeSync(fd);
  }
  const layout = join(dir, 'layout');
  const { put, finish, archive } = ociLayout(layout);
  execFileSync('tar', [
    '--sort=name',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '--mtime=2020-01-01',
    '-cf',
    join(dir, 'layer.tar'),
    '-C',
    rootfs,
    '.',
  ]);
  const diffId = fileDigest(join(dir, 'layer.tar'));
  execFileSync('sh', ['-c', `gzip -n -6 -c "${join(dir, 'layer.tar')}" > "${join(dir, 'layer.tar.gz')}"`]);
  rmSync(join(dir, 'layer.tar'));
  const layer = put(readFileSync(join(dir, 'layer.tar.gz')));
  finish({
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
    diffIds: [diffId],
    name: 'docker.io/library/bench:latest',
  });
  archive(join(dir, 'image.tar'));
  rmSync(rootfs, { recursive: true, force: true });
  return { layerSize: layer.size };
}

const peakKb = (pid) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

try {
  const cached = process.env.BENCH_IMAGE;
  let layerSize;
  if (cached && existsSync(join(cached, 'image.tar')) && existsSync(join(cached, 'layer.tar.gz'))) {
    layerSize = statSync(join(cached, 'layer.tar.gz')).size;
  } else {
    console.log(`building the synthetic image in ${cached ?? base}...`);
    if (cached) mkdirSync(cached, { recursive: true });
    ({ layerSize } = buildImage(cached ?? base));
  }
  // Every contender reads its input from the file system under test.
  if (cached) for (const f of ['image.tar', 'layer.tar.gz']) copyFileSync(join(cached, f), join(base, f));
  console.log(`contenders run in ${base} (${FS === 'tmpfs' ? 'tmpfs' : 'ext4, /var/tmp'})`);
  console.log(`layer: ${(layerSize / 1e6).toFixed(1)} MB gzip, ${FILES} files, ~${(TOTAL / 1e6).toFixed(0)} MB uncompressed`);

  const ours = join(base, 'ctl');
  const ctlArgs = ['--root', join(ours, 'root'), '--state', join(ours, 'state')];
  mkdirSync(join(ours, 'state'), { recursive: true });
  const daemon = spawn(ctl, [...ctlArgs, 'daemon', '--log-level', 'warn'], {
    stdio: 'inherit',
    env: { ...env, CTL_SNAPSHOTTER_DRIVERS: 'overlayfs' },
  });
  children.push(daemon);

  const theirs = join(base, 'containerd');
  mkdirSync(theirs, { recursive: true });
  const { address, child: containerd } = startContainerd(theirs);
  children.push(containerd);
  await waitFor('ctl daemon', () => execFileSync(ctl, [...ctlArgs, '--no-autostart', 'version'], { env, stdio: 'pipe' }));
  await waitFor('containerd', () => execFileSync('ctr', ['-a', address, 'version'], { stdio: 'pipe' }));

  const image = join(base, 'image.tar');
  const dest = join(base, 'tar-dest');
  const q = (s) => `'${s}'`;
  const ctlCmd = `${q(ctl)} ${ctlArgs.map(q).join(' ')} --no-autostart`;
  const ctrCmd = `ctr -a ${q(address)} -n bench`;
  // Contenders alternate round by round, in a rotating order, each after its own clean-up and
  // a sync, so that none of them always meets the disk right after another's deletions.
  const contenders = [
    {
      name: 'containerd: ctr images import',
      prepare: `${ctrCmd} images rm --sync docker.io/library/bench:latest >/dev/null 2>&1; sync`,
      run: `${ctrCmd} images import ${q(image)} >/dev/null`,
    },
    {
      name: 'ctl image import',
      prepare: `${ctlCmd} image rm --sync docker.io/library/bench:latest >/dev/null 2>&1; sync`,
      run: `${ctlCmd} image import ${q(image)} >/dev/null`,
    },
    {
      name: 'tar -xzf (floor)',
      prepare: `rm -rf ${q(dest)}; mkdir ${q(dest)}; sync`,
      run: `tar -xzf ${q(join(base, 'layer.tar.gz'))} -C ${q(dest)}`,
    },
  ];
  const times = new Map(contenders.map((c) => [c.name, []]));
  for (let round = 0; round < RUNS; round++) {
    for (let i = 0; i < contenders.length; i++) {
      const c = contenders[(round + i) % contenders.length];
      execFileSync('sh', ['-c', c.prepare], { env, stdio: 'inherit' });
      const t = process.hrtime.bigint();
      execFileSync('sh', ['-c', c.run], { env, stdio: 'inherit' });
      times.get(c.name).push(Number(process.hrtime.bigint() - t) / 1e9);
    }
  }
  const sorted = (xs) => [...xs].sort((x, y) => x - y);
  const median = (name) => sorted(times.get(name))[Math.floor(RUNS / 2)];
  for (const c of contenders)
    console.log(
      `  ${c.name.padEnd(32)} ${sorted(times.get(c.name))
        .map((x) => x.toFixed(3))
        .join('  ')} s`,
    );
  const [c, o, t] = contenders.map((x) => median(x.name));
  console.log(
    `\nimport + unpack of one ~100 MB layer (${FS === 'tmpfs' ? 'all on tmpfs' : 'all on ext4 under /var/tmp'}), medians of ${RUNS}:`,
  );
  console.log(`  containerd ${c.toFixed(3)} s, ctl ${o.toFixed(3)} s, tar -xzf ${t.toFixed(3)} s`);
  console.log(`  ctl / containerd = ${(o / c).toFixed(2)}x (target <= 0.50x); ctl / tar -xzf = ${(o / t).toFixed(2)}x (target <= 1.20x)`);
  console.log(`  ctl daemon peak RSS (VmHWM, whole life): ${(peakKb(daemon.pid) / 1024).toFixed(1)} MiB (target < 200 MB)`);
} finally {
  for (const child of children.reverse()) {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null || child.signalCode ? r() : child.once('exit', r)));
  }
  // Lazily, as lib/ctl.mjs's tmpfsBase does: the daemons' helpers may still be on their way out.
  if (FS === 'tmpfs') execFileSync('umount', ['-R', '-l', base]);
  rmSync(base, { recursive: true, force: true });
}
