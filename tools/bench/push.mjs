#!/usr/bin/env node
// Push and pull against a local registry (Debian's docker-registry on 127.0.0.1, in a netns of the
// bench's own, storage on a tmpfs), side by side in one run, contenders alternating round by round
// in a rotating order; medians, spread and ratios, with `node -e 0` (without and with
// NODE_EXTRA_CA_CERTS) and the load average beside as the machine's load:
// - a fresh push of an OCI archive (several gzip layers, ~50 MB): `ctl push` of the imported image
//   against `skopeo copy oci-archive:X docker://…` (target ctl <= 1.0x skopeo);
// - the same push to a second repository of the same registry, whose blobs the first push left
//   there: both tools mount them across repositories (ctl from the content labels
//   containerd.io/distribution.source.<host>, skopeo from its blob info cache) (target close to
//   skopeo's);
// - pull with unpack: `ctl pull` against `ctr images pull --plain-http` on Debian's containerd
//   (target ctl <= 0.5x ctr), of the same image and of busybox (tools/busybox-image.sh, ~1 MB).
// Every push round gets a new registry (new port, empty storage), so nothing known from an earlier
// round (ctl's labels, skopeo's cache) applies; ctl's image is imported again before each push, so
// its labels start empty. The contenders run without NODE_EXTRA_CA_CERTS (users' hosts).
//
//   node tools/bench/push.mjs                       # BENCH_RUNS=7 rounds
//   BENCH_IMAGE=DIR: build the archive into DIR once (image.tar) and reuse it later
//   BENCH_BASELINE=DIR: also time the ctl of another built checkout (e.g. the commit before a change)
//   BENCH_ONLY=REGEX: only the contenders whose names match
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { startContainerd } from './lib/containerd.mjs';
import { ctlBinary, daemonProcessEnv, tmpfsBase, waitFor } from './lib/ctl.mjs';
import { certEnvs, inOwnNetns } from './lib/netns.mjs';
import { bytesFrom, median, nodeStart } from './lib/stats.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// The image layout writer the CLI's tests use too (built @ctl/proto).
const { ociLayout, sha256Digest } = createRequire(join(repo, 'packages', 'cli', 'package.json'))('@ctl/proto/testing');
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const LAYERS = Number(process.env.BENCH_LAYERS ?? 5);
const TOTAL = Number(process.env.BENCH_BYTES ?? 50e6);
const IMAGE_NAME = 'docker.io/library/pushbench:latest';
const sorted = (xs) => [...xs].sort((a, b) => a - b);

/**
 * An OCI archive of LAYERS gzip layers of about TOTAL bytes together, mostly random bytes (so
 * the compressed size stays near the uncompressed one) in files of a few hundred kB.
 */
function buildImage(dir) {
  const layout = join(dir, 'layout');
  const { put, finish, archive } = ociLayout(layout);
  const rand = bytesFrom(7);
  const words = Buffer.from('the quick brown fox jumps over the lazy dog\n');
  const layers = [];
  const diffIds = [];
  for (let l = 0; l < LAYERS; l++) {
    const rootfs = join(dir, `rootfs${l}`);
    const perLayer = TOTAL / LAYERS;
    for (let written = 0, i = 0; written < perLayer; i++) {
      const sub = join(rootfs, `layer${l}`, `d${i % 8}`);
      mkdirSync(sub, { recursive: true });
      const size = Math.min(perLayer - written, 100_000 + (rand.next().value % 400_000));
      const buf = Buffer.alloc(size);
      const text = Math.floor(size / 10);
      for (let o = 0; o + 4 <= size - text; o += 4) buf.writeUInt32LE(rand.next().value, o);
      for (let o = size - text; o < size; o += words.length) words.copy(buf, o, 0, Math.min(words.length, size - o));
      const fd = openSync(join(sub, `f${i}.dat`), 'w');
      writeSync(fd, buf);
      closeSync(fd);
      written += size;
    }
    const tar = join(dir, `layer${l}.tar`);
    execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=2020-01-01', '-cf', tar, '-C', rootfs, '.']);
    diffIds.push(sha256Digest(readFileSync(tar)));
    execFileSync('sh', ['-c', `gzip -n -1 -c "${tar}" > "${tar}.gz"`]);
    layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...put(readFileSync(`${tar}.gz`)) });
    rmSync(tar);
    rmSync(`${tar}.gz`);
    rmSync(rootfs, { recursive: true, force: true });
  }
  finish({ layers, diffIds, name: IMAGE_NAME });
  archive(join(dir, 'image.tar'));
}

/** A free TCP port on 127.0.0.1 (the kernel's pick), asked of a throwaway process. */
const freePort = () =>
  Number(
    execFileSync(
      process.execPath,
      ['-e', 's=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'],
      { encoding: 'utf8' },
    ),
  );

/** A docker-registry of its own on a new port with empty storage under dir; stop() kills it and removes dir. */
async function startRegistry(dir) {
  mkdirSync(dir, { recursive: true });
  const host = `127.0.0.1:${freePort()}`;
  writeFileSync(
    join(dir, 'config.yml'),
    [
      'version: 0.1',
      'log:',
      '  level: error',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'data')}`,
      'http:',
      `  addr: ${host}`,
      `  secret: ${createHash('sha256').update(dir).digest('hex')}`,
      '',
    ].join('\n'),
  );
  // Its access log and its notes on every 404 of a HEAD: into a file, not over the figures.
  const log = openSync(join(dir, 'registry.log'), 'a');
  const child = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', log, log] });
  closeSync(log);
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`http://${host}/v2/`)).ok) break;
    } catch {
      // not listening yet
    }
    if (i > 400 || child.exitCode !== null) throw new Error(`docker-registry on ${host} did not start`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    host,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null || child.signalCode ? r() : child.once('exit', r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

if (inOwnNetns(fileURLToPath(import.meta.url))) {
  const tmp = tmpfsBase('ctl-bench-push-');
  const base = tmp.base;
  const [[, plain]] = certEnvs();
  const children = [];
  const registries = [];
  try {
    const loadBefore = loadavg();
    const cached = process.env.BENCH_IMAGE;
    const archive = join(base, 'image.tar');
    if (cached && existsSync(join(cached, 'image.tar'))) {
      execFileSync('cp', [join(cached, 'image.tar'), archive]);
    } else {
      console.log(`building the synthetic image (${LAYERS} layers, ~${(TOTAL / 1e6).toFixed(0)} MB)...`);
      buildImage(base);
      if (cached) {
        mkdirSync(cached, { recursive: true });
        execFileSync('cp', [archive, join(cached, 'image.tar')]);
      }
    }
    console.log(`archive: ${(statSync(archive).size / 1e6).toFixed(1)} MB, ${LAYERS} layers; all state on a tmpfs at ${base}`);

    // ctl, and with BENCH_BASELINE=DIR the ctl of another built checkout beside it (its own daemon).
    const instances = [{ label: 'ctl', binary: ctlBinary }];
    if (process.env.BENCH_BASELINE)
      instances.push({ label: 'baseline ctl', binary: join(process.env.BENCH_BASELINE, 'node_modules', '.bin', 'ctl') });
    for (const [i, instance] of instances.entries()) {
      const args = ['--root', join(base, `ctl${i}`, 'root'), '--state', join(base, `ctl${i}`, 'state')];
      mkdirSync(join(base, `ctl${i}`, 'state'), { recursive: true });
      // The daemon as ctl's autostart starts it (its Node flags and malloc settings), as users get it.
      children.push(
        spawn(instance.binary, [...args, 'daemon', '--log-level', 'warn'], {
          stdio: 'inherit',
          env: { ...daemonProcessEnv(plain), CTL_SNAPSHOTTER_DRIVERS: 'overlayfs' },
        }),
      );
      instance.ctl = (...more) => execFileSync(instance.binary, [...args, '--no-autostart', ...more], { env: plain, stdio: 'pipe' });
      instance.forget = () => {
        const names = JSON.parse(instance.ctl('image', 'ls', '--format', 'json')).map((image) => image.name);
        if (names.length) instance.ctl('image', 'rm', '--sync', ...names);
      };
      /** The image, imported again: its blobs carry no distribution labels from an earlier round. */
      instance.image = () => {
        instance.forget();
        instance.ctl('image', 'import', archive);
      };
    }
    const { address, child: containerd } = startContainerd(join(base, 'containerd'));
    children.push(containerd);
    const ctr = (...args) => execFileSync('ctr', ['-a', address, '-n', 'bench', ...args], { stdio: 'pipe' });
    const skopeo = (...args) => execFileSync('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', ...args], { stdio: 'pipe' });
    for (const { label, ctl } of instances) await waitFor(`${label} daemon`, () => ctl('version'));
    await waitFor('containerd', () => ctr('version'));

    let registryCount = 0;
    const newRegistry = async () => {
      const r = await startRegistry(join(base, `registry-${registryCount++}`));
      registries.push(r);
      return r;
    };
    const dropRegistry = async (r) => {
      registries.splice(registries.indexOf(r), 1);
      await r.stop();
    };
    // One registry for the pulls, filled once.
    const pullFrom = await newRegistry();
    const pullRef = `${pullFrom.host}/pull:latest`;
    skopeo(`oci-archive:${archive}`, `docker://${pullRef}`);
    const busybox = join(base, 'busybox.tar');
    execFileSync('bash', [join(repo, 'tools', 'busybox-image.sh'), busybox]);
    const busyboxRef = `${pullFrom.host}/busybox:latest`;
    skopeo(`oci-archive:${busybox}`, `docker://${busyboxRef}`);
    const pulls = [
      ['', pullRef],
      [', busybox', busyboxRef],
    ];

    // Each contender: prepare (not timed) returns the command to time and what to do after it.
    let current;
    const contenders = [
      ...instances.flatMap(({ label, ctl, forget, image }) => [
        {
          name: `${label} push (fresh)`,
          async prepare() {
            current = await newRegistry();
            image();
            ctl('image', 'tag', IMAGE_NAME, `${current.host}/fresh:latest`);
            return () => ctl('push', `${current.host}/fresh:latest`);
          },
          done: () => dropRegistry(current),
        },
        {
          name: `${label} push (mount)`,
          async prepare() {
            current = await newRegistry();
            image();
            ctl('image', 'tag', IMAGE_NAME, `${current.host}/first:latest`);
            ctl('push', `${current.host}/first:latest`);
            ctl('image', 'tag', IMAGE_NAME, `${current.host}/second:latest`);
            return () => ctl('push', `${current.host}/second:latest`);
          },
          done: () => dropRegistry(current),
        },
        ...pulls.map(([what, ref]) => ({
          name: `${label} pull (unpack${what})`,
          async prepare() {
            forget();
            return () => ctl('pull', ref);
          },
          done: async () => undefined,
        })),
      ]),
      {
        name: 'skopeo copy (fresh)',
        async prepare() {
          current = await newRegistry();
          return () => skopeo(`oci-archive:${archive}`, `docker://${current.host}/fresh:latest`);
        },
        done: () => dropRegistry(current),
      },
      {
        name: 'skopeo copy (mount)',
        async prepare() {
          current = await newRegistry();
          skopeo(`oci-archive:${archive}`, `docker://${current.host}/first:latest`);
          return () => skopeo(`oci-archive:${archive}`, `docker://${current.host}/second:latest`);
        },
        done: () => dropRegistry(current),
      },
      ...pulls.map(([what, ref]) => ({
        name: `ctr images pull${what && ` (${what.slice(2)})`}`,
        async prepare() {
          try {
            ctr('images', 'rm', '--sync', ref);
          } catch {
            // not there yet
          }
          return () => ctr('images', 'pull', '--plain-http', ref);
        },
        done: async () => undefined,
      })),
    ];
    // BENCH_ONLY=REGEX: only the contenders whose names match (the ratios print what they can).
    if (process.env.BENCH_ONLY)
      contenders.splice(0, contenders.length, ...contenders.filter((c) => new RegExp(process.env.BENCH_ONLY).test(c.name)));
    const times = new Map(contenders.map((c) => [c.name, []]));
    const loads = new Map(certEnvs().map(([label]) => [label, []]));
    for (let round = 0; round < RUNS; round++) {
      for (let i = 0; i < contenders.length; i++) {
        const c = contenders[(round + i) % contenders.length];
        const timed = await c.prepare();
        execFileSync('sync');
        const t = process.hrtime.bigint();
        timed();
        times.get(c.name).push(Number(process.hrtime.bigint() - t) / 1e9);
        await c.done();
      }
      for (const [label, env] of certEnvs()) loads.get(label).push(nodeStart(env));
    }

    const spread = (xs) => {
      const s = sorted(xs);
      return `${s[0].toFixed(3)}..${s[s.length - 1].toFixed(3)}`;
    };
    console.log(
      `\npush and pull of a ${(statSync(archive).size / 1e6).toFixed(0)} MB, ${LAYERS}-layer image, local registry, ${RUNS} rounds:`,
    );
    console.log(`  ${'contender'.padEnd(36)} ${'median'.padStart(8)}  min..max (s)`);
    for (const c of contenders)
      console.log(`  ${c.name.padEnd(36)} ${median(times.get(c.name)).toFixed(3).padStart(8)}  ${spread(times.get(c.name))}`);
    const m = (name) => median(times.get(name));
    const ratio = (x, y, target) =>
      times.has(x) &&
      times.has(y) &&
      console.log(`  ${`${x} / ${y}:`.padEnd(66)} ${(m(x) / m(y)).toFixed(2)}x${target ? ` (target ${target})` : ''}`);
    ratio('ctl push (fresh)', 'skopeo copy (fresh)', '<= 1.00x');
    ratio('ctl push (mount)', 'skopeo copy (mount)', 'close to 1x');
    ratio('ctl pull (unpack)', 'ctr images pull', '<= 0.50x');
    ratio('ctl pull (unpack, busybox)', 'ctr images pull (busybox)', '<= 0.50x');
    if (instances.length > 1)
      for (const what of ['push (fresh)', 'push (mount)', 'pull (unpack)', 'pull (unpack, busybox)'])
        ratio(`ctl ${what}`, `baseline ctl ${what}`);
    console.log(
      `  node -e 0 (median of the rounds): ${[...loads].map(([label, xs]) => `${label} ${median(xs).toFixed(1)} ms`).join(', ')}`,
    );
    const fmt = (l) => l.map((x) => x.toFixed(2)).join(' ');
    console.log(`  load average: ${fmt(loadBefore)} before, ${fmt(loadavg())} after`);
  } finally {
    for (const r of registries.splice(0)) await r.stop();
    for (const child of children.reverse()) {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null || child.signalCode ? r() : child.once('exit', r)));
    }
    tmp.remove();
  }
}
