#!/usr/bin/env node
// Snapshotter speed, side by side in one run through the same gRPC API (containerd's
// snapshots.v1) and the same client: this project's snapshotter (overlayfs driver) against
// Debian's containerd with its built-in overlayfs snapshotter. Both keep their state on one
// tmpfs that this script mounts (and removes), so neither meets this disk's slow-after-deletes
// ext4. Measures: Prepare+Mounts+Remove of N snapshots on a shared parent, and Prepare+Commit
// of a 50-layer chain; prints per-operation medians and ratios (target: ours <= containerd's).
// Then containerd's suite's 128LayersMount case: a chain of 128 layers, each prepared, mounted,
// written, unmounted and committed, and a view of the top mounted and read (target: ours <=
// 1.5x containerd's), with what a new ctl-snapshotter takes to answer and `node -e 0`.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startContainerd } from './lib/containerd.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(join(repo, 'proto', 'package.json'));
const { WireClient, wireMethod } = require('./dist/wire.js');
const { mountAll, mountFromWire, unmountAll } = require('../packages/runtime-native/dist/src/mount.js');
const COUNT = Number(process.env.BENCH_SNAPSHOTS ?? 1000);
const CHAIN = Number(process.env.BENCH_CHAIN ?? 50);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const LAYERS = Number(process.env.BENCH_LAYERS ?? 128);

const base = mkdtempSync(join(tmpdir(), 'ctl-bench-snap-'));
execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2g', 'tmpfs', base]);
const children = [];
const m = (name) => wireMethod('containerd/services/snapshots/v1/snapshots', 'containerd.services.snapshots.v1.Snapshots', name);

async function waitFor(what, fn) {
  for (let i = 0; i < 400; i++) {
    try {
      if (await fn()) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function measure(label, socket, snapshotter, headers) {
  const client = new WireClient(socket);
  const call = (name, req) => client.unary(m(name), { snapshotter, ...req }, { headers });
  // containerd collects snapshots that nothing holds as soon as its GC runs (clients use
  // leases); a gc.root label holds them. Both contenders get the same labels.
  const labels = { 'containerd.io/gc.root': 'bench' };
  const prep = [];
  const commit = [];
  for (let round = 0; round < ROUNDS; round++) {
    const p = `r${round}`;
    await call('Prepare', { key: `${p}-base-a`, parent: '', labels });
    await call('Commit', { name: `${p}-base`, key: `${p}-base-a`, labels });
    let t = process.hrtime.bigint();
    for (let i = 0; i < COUNT; i++) {
      await call('Prepare', { key: `${p}-k${i}`, parent: `${p}-base`, labels });
      await call('Mounts', { key: `${p}-k${i}` });
      await call('Remove', { key: `${p}-k${i}` });
    }
    prep.push(Number(process.hrtime.bigint() - t) / 1e6 / COUNT);
    let parent = `${p}-base`;
    t = process.hrtime.bigint();
    for (let i = 0; i < CHAIN; i++) {
      await call('Prepare', { key: `${p}-c${i}-a`, parent, labels });
      await call('Commit', { name: `${p}-c${i}`, key: `${p}-c${i}-a`, labels });
      parent = `${p}-c${i}`;
    }
    commit.push(Number(process.hrtime.bigint() - t) / 1e6 / CHAIN);
  }
  client.close();
  return { label, prep: median(prep), commit: median(commit) };
}

/**
 * containerd's snapshots/testsuite 128LayersMount, over gRPC: each layer prepared on the last,
 * mounted, written (a file of its own, one overwritten, a directory replaced), unmounted and
 * committed; then a view of the top, mounted and checked. Milliseconds, median of ROUNDS.
 */
async function layerChain(socket, snapshotter, headers, work) {
  const client = new WireClient(socket);
  const call = (name, req) => client.unary(m(name), { snapshotter, ...req }, { headers });
  const labels = { 'containerd.io/gc.root': 'bench' };
  const target = join(work, 'mnt');
  mkdirSync(target, { recursive: true });
  const times = [];
  for (let round = 0; round < ROUNDS; round++) {
    const t = process.hrtime.bigint();
    let parent = '';
    for (let i = 0; i < LAYERS; i++) {
      const key = `r${round}-l${i}-a`;
      const { mounts } = await call('Prepare', { key, parent, labels });
      await mountAll(mounts.map(mountFromWire), target);
      try {
        writeFileSync(join(target, 'overwriteme'), `${i} WAS HERE!\n`);
        rmSync(join(target, 'ONLYME'), { recursive: true, force: true });
        mkdirSync(join(target, 'ONLYME', `d${i}`), { recursive: true });
        writeFileSync(join(target, `file-${i}`), 'same\n');
      } finally {
        await unmountAll(target);
      }
      parent = `r${round}-l${i}`;
      await call('Commit', { name: parent, key, labels });
    }
    const { mounts } = await call('View', { key: `r${round}-view`, parent, labels });
    await mountAll(mounts.map(mountFromWire), target);
    try {
      const files = readdirSync(target).filter((f) => f.startsWith('file-')).length;
      if (files !== LAYERS || readFileSync(join(target, 'overwriteme'), 'utf8') !== `${LAYERS - 1} WAS HERE!\n`) {
        throw new Error(`${snapshotter}: the view of ${LAYERS} layers shows ${files} files`);
      }
    } finally {
      await unmountAll(target);
    }
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  client.close();
  return median(times);
}

/** Milliseconds from spawning a command to its exit, or to a socket answering when one is given. */
async function startTime(argv, env, socket) {
  const t = process.hrtime.bigint();
  const child = spawn(argv[0], argv.slice(1), { stdio: 'ignore', env });
  if (socket) {
    await waitFor('a ctl-snapshotter', async () => {
      const c = new WireClient(socket);
      try {
        return await c.unary(wireMethod('containerd/services/version/v1/version', 'containerd.services.version.v1.Version', 'Version'), {});
      } finally {
        c.close();
      }
    });
  }
  if (socket) {
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
    return ms;
  }
  await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
  return Number(process.hrtime.bigint() - t) / 1e6;
}

try {
  const ours = join(base, 'ours');
  const theirs = join(base, 'containerd');
  mkdirSync(join(ours, 'state'), { recursive: true });
  mkdirSync(theirs, { recursive: true });
  const ourSocket = join(ours, 'state', 'snapshotter.sock');
  children.push(
    spawn(
      join(repo, 'node_modules', '.bin', 'ctl-snapshotter'),
      ['--root', join(ours, 'root'), '--state', join(ours, 'state'), '--log-level', 'warn'],
      {
        stdio: 'inherit',
        env: { ...process.env, CTL_SNAPSHOTTER_DRIVERS: 'overlayfs' },
      },
    ),
  );
  const { address, child: containerd } = startContainerd(theirs);
  children.push(containerd);
  const version = wireMethod('containerd/services/version/v1/version', 'containerd.services.version.v1.Version', 'Version');
  await waitFor('our snapshotter', async () => {
    const c = new WireClient(ourSocket);
    try {
      return await c.unary(version, {});
    } finally {
      c.close();
    }
  });
  await waitFor('containerd', async () => {
    const c = new WireClient(address);
    try {
      return await c.unary(version, {});
    } finally {
      c.close();
    }
  });

  const results = [
    await measure('containerd (built-in overlayfs)', address, 'overlayfs', { 'containerd-namespace': 'bench' }),
    await measure('ctl snapshotter (overlayfs)', ourSocket, 'overlayfs', {}),
  ];
  console.log(`\nsnapshots.v1 over gRPC, state on tmpfs, median of ${ROUNDS} rounds (per operation)`);
  console.log(`  ${'contender'.padEnd(34)} ${'Prepare+Mounts+Remove'.padStart(22)} ${'Prepare+Commit (chain)'.padStart(23)}`);
  for (const r of results)
    console.log(`  ${r.label.padEnd(34)} ${r.prep.toFixed(3).padStart(19)} ms ${r.commit.toFixed(3).padStart(20)} ms`);
  const [c, o] = results;
  console.log(
    `  ratio ours/containerd: Prepare+Mounts+Remove ${(o.prep / c.prep).toFixed(2)}x, Commit chain ${(o.commit / c.commit).toFixed(2)}x (target <= 1.00x)`,
  );

  const chainTheirs = await layerChain(address, 'overlayfs', { 'containerd-namespace': 'bench' }, join(theirs, 'work'));
  const chainOurs = await layerChain(ourSocket, 'overlayfs', {}, join(ours, 'work'));
  const fresh = join(base, 'fresh');
  const startOurs = [];
  const nodeBare = [];
  for (let round = 0; round < ROUNDS; round++) {
    const dir = join(fresh, String(round));
    const socket = join(dir, 'state', 'snapshotter.sock');
    const args = ['--root', join(dir, 'root'), '--state', join(dir, 'state'), '--log-level', 'warn'];
    startOurs.push(
      await startTime(
        [join(repo, 'node_modules', '.bin', 'ctl-snapshotter'), ...args],
        { ...process.env, CTL_SNAPSHOTTER_DRIVERS: 'overlayfs' },
        socket,
      ),
    );
    nodeBare.push(await startTime([process.execPath, '-e', '0'], process.env));
  }
  console.log(`\ncontainerd's 128LayersMount (${LAYERS} layers: prepare, mount, write, unmount, commit; view), median of ${ROUNDS}`);
  console.log(`  containerd (built-in overlayfs) ${chainTheirs.toFixed(0).padStart(7)} ms`);
  console.log(`  ctl snapshotter (overlayfs)     ${chainOurs.toFixed(0).padStart(7)} ms`);
  console.log(`  ratio ours/containerd: ${(chainOurs / chainTheirs).toFixed(2)}x (target <= 1.50x)`);
  console.log(`  a new ctl-snapshotter answers in ${median(startOurs).toFixed(0)} ms; node -e 0 takes ${median(nodeBare).toFixed(0)} ms`);
} finally {
  for (const child of children.reverse()) {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
  }
  // Something (not found yet) can keep the tmpfs busy for a while after the services stopped:
  // try for a few seconds, then detach it (it goes when the last user lets go).
  for (let tries = 0; ; tries++) {
    try {
      execFileSync('umount', ['-R', base], { stdio: 'pipe' });
      break;
    } catch {
      if (tries < 30) await new Promise((r) => setTimeout(r, 100));
      else {
        execFileSync('umount', ['-R', '-l', base]);
        break;
      }
    }
  }
  rmSync(base, { recursive: true, force: true });
}
