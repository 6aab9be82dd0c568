#!/usr/bin/env node
// Snapshotter speed, side by side in one run through the same gRPC API (containerd's
// snapshots.v1) and the same client: this project's snapshotter (overlayfs driver) against
// Debian's containerd with its built-in overlayfs snapshotter. Both keep their state on one
// tmpfs that this script mounts (and removes), so neither meets this disk's slow-after-deletes
// ext4. Measures: Prepare+Mounts+Remove of N snapshots on a shared parent, and Prepare+Commit
// of a 50-layer chain; prints per-operation medians and ratios (target: ours <= containerd's).
// Then containerd's suite's 128LayersMount case: a chain of 128 layers, each prepared, mounted,
// written, unmounted and committed, and a view of the top mounted and read (target: ours <=
// 1.5x containerd's), with what a new ctl-snapshotter takes to answer and the CPU it has used
// by then, beside `node -e 0`, each with and without NODE_EXTRA_CA_CERTS when it is set.
// Last, containerd's own snapshotter suite (21 cases, a fresh snapshotter for each, two cases at
// a time), containerd's overlayfs and ctl-snapshotter as a proxy in one run, BENCH_SUITE_ROUNDS
// times (default 3; 0 skips it): per-case medians and the ratio of its 128LayersMount case (target
// <= 1.5x). The suite is built from containerd's sources, outside the repository, by
// ../shared/conformance/snap-build.sh; SNAPSUITE names the test binary (default
// /tmp/peer/snapsuite.test). BENCH_SUITE_ONLY=1 runs the suite alone.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startContainerd } from './lib/containerd.mjs';
import { median } from './lib/stats.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(join(repo, 'proto', 'package.json'));
const { WireClient, wireMethod } = require('./dist/wire.js');
const { mountAll, mountFromWire, unmountAll } = require('../packages/runtime-native/dist/src/mount.js');
const COUNT = Number(process.env.BENCH_SNAPSHOTS ?? 1000);
const CHAIN = Number(process.env.BENCH_CHAIN ?? 50);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const LAYERS = Number(process.env.BENCH_LAYERS ?? 128);
const SUITE_ROUNDS = Number(process.env.BENCH_SUITE_ROUNDS ?? 3);
const SUITE = process.env.SNAPSUITE ?? '/tmp/peer/snapsuite.test';
const OUR_BINARY = join(repo, 'node_modules', '.bin', 'ctl-snapshotter');

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

/** CPU milliseconds a live process has used, all its threads. */
function cpuMs(pid) {
  let ns = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // A thread that ended meanwhile.
    }
  }
  return ns / 1e6;
}

/** A new ctl-snapshotter: milliseconds from spawning it until it answers, and the CPU it has used by then. */
async function snapshotterStart(dir, env) {
  const socket = join(dir, 'state', 'snapshotter.sock');
  const t = process.hrtime.bigint();
  const child = spawn(OUR_BINARY, ['--root', join(dir, 'root'), '--state', join(dir, 'state'), '--log-level', 'warn'], {
    stdio: 'ignore',
    env,
  });
  const version = wireMethod('containerd/services/version/v1/version', 'containerd.services.version.v1.Version', 'Version');
  await waitFor('a ctl-snapshotter', async () => {
    const c = new WireClient(socket);
    try {
      return await c.unary(version, {});
    } finally {
      c.close();
    }
  });
  const result = { ms: Number(process.hrtime.bigint() - t) / 1e6, cpu: cpuMs(child.pid) };
  child.kill('SIGTERM');
  await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
  return result;
}

/** `node -e 0`: milliseconds from spawning it to its exit; and the CPU a Node process that does nothing reports at its exit. */
async function nodeStart(env) {
  const t = process.hrtime.bigint();
  execFileSync(process.execPath, ['-e', '0'], { env });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  const report = 'process.on("exit", () => { const u = process.cpuUsage(); process.stdout.write(String((u.user + u.system) / 1000)); })';
  const own = execFileSync(process.execPath, ['-e', report], { env });
  return { ms, cpu: Number(own) };
}

/**
 * The start-up figures, with the environment as it is and, when it sets one, without
 * NODE_EXTRA_CA_CERTS (Node reads the certificates at every start, TLS or not). The
 * snapshotter starts as containerd's suite starts it: every driver tried.
 */
async function startUp(base) {
  const envs = [['', process.env]];
  if (process.env.NODE_EXTRA_CA_CERTS) {
    const { NODE_EXTRA_CA_CERTS: _, ...rest } = process.env;
    envs[0][0] = ' (NODE_EXTRA_CA_CERTS set)';
    envs.push([' (without NODE_EXTRA_CA_CERTS)', rest]);
  }
  const runs = ROUNDS * 3;
  console.log(`\nstart-up, median of ${runs}: wall until it answers (exits, for node -e 0), and CPU used by then`);
  for (const [i, [label, env]] of envs.entries()) {
    const ours = [];
    const bare = [];
    for (let round = 0; round < runs; round++) {
      ours.push(await snapshotterStart(join(base, `${i}-${round}`), env));
      bare.push(await nodeStart(env));
    }
    const fig = (xs) => {
      const ms = median(xs.map((x) => x.ms)).toFixed(0);
      const cpu = median(xs.map((x) => x.cpu)).toFixed(0);
      return `${ms.padStart(5)} ms wall, ${cpu.padStart(4)} ms CPU`;
    };
    console.log(`  a new ctl-snapshotter${label.padEnd(31)} ${fig(ours)}`);
    console.log(`  node -e 0${label.padEnd(43)} ${fig(bare)}`);
  }
}

const CASE = /--- (PASS|FAIL|SKIP): (TestOverlayBaseline|TestCtlProxy)\/(\S+) \(([\d.]+)s\)/;

/**
 * containerd's suite in one run per round: its cases for containerd's overlayfs, then for
 * ctl-snapshotter through containerd's proxy (snapsuite/ctl_snapshotter_test.go). Seconds per
 * case as the suite reports them, which for ctl includes starting and stopping its process.
 */
async function containerdSuite() {
  if (!existsSync(SUITE)) {
    console.log(
      `\ncontainerd's snapshotter suite: no ${SUITE}; build it with ../shared/conformance/snap-build.sh (MIRROR=<containerd git dir>), or set SNAPSUITE`,
    );
    return;
  }
  const cases = new Map();
  const ratios = [];
  const loads = [];
  const failed = [];
  for (let round = 0; round < SUITE_ROUNDS; round++) {
    loads.push(loadavg()[0]);
    const work = mkdtempSync(join(tmpdir(), 'ctl-bench-suite-'));
    let output;
    try {
      output = await new Promise((resolve, reject) =>
        execFile(
          SUITE,
          ['-test.root', '-test.v', '-test.timeout', '20m', '-test.run', 'TestOverlayBaseline|TestCtlProxy'],
          { cwd: work, env: { ...process.env, CTL_SNAPSHOTTER: OUR_BINARY }, maxBuffer: 64 * 1024 * 1024 },
          (err, stdout) => (err && !stdout ? reject(err) : resolve(stdout)),
        ),
      );
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    const times = { TestOverlayBaseline: new Map(), TestCtlProxy: new Map() };
    for (const line of output.split('\n')) {
      const m = CASE.exec(line);
      if (!m) continue;
      const [, result, suite, name, seconds] = m;
      if (result === 'FAIL') failed.push(`${suite}/${name} (round ${round + 1})`);
      times[suite].set(name, Number(seconds));
      if (!cases.has(name)) cases.set(name, { overlay: [], ctl: [], skipped: result === 'SKIP' });
    }
    for (const [name, c] of cases) {
      if (times.TestOverlayBaseline.has(name)) c.overlay.push(times.TestOverlayBaseline.get(name));
      if (times.TestCtlProxy.has(name)) c.ctl.push(times.TestCtlProxy.get(name));
    }
    const o = times.TestOverlayBaseline.get('128LayersMount');
    const c = times.TestCtlProxy.get('128LayersMount');
    if (o && c) ratios.push(c / o);
  }
  console.log(`\ncontainerd's snapshotter suite (${SUITE}), ${SUITE_ROUNDS} runs; seconds, median per case`);
  console.log(`  ${'case'.padEnd(30)} ${'overlayfs'.padStart(9)} ${'ctl'.padStart(7)}`);
  for (const [name, c] of cases) {
    const note = c.skipped ? '  (skipped by the suite)' : '';
    console.log(`  ${name.padEnd(30)} ${median(c.overlay).toFixed(2).padStart(9)} ${median(c.ctl).toFixed(2).padStart(7)}${note}`);
  }
  const layers = cases.get('128LayersMount');
  console.log(
    `  128LayersMount ratio ctl/overlayfs: ${median(ratios).toFixed(2)}x median of the runs [${ratios.map((r) => r.toFixed(2)).join(' ')}]` +
      (layers ? `, ${(median(layers.ctl) / median(layers.overlay)).toFixed(2)}x of the medians` : '') +
      ' (target <= 1.50x)',
  );
  console.log(`  load average (1 min) at each run's start: ${loads.map((l) => l.toFixed(1)).join(' ')}`);
  if (failed.length) {
    console.log(`  FAILED: ${failed.join(', ')}`);
    process.exitCode = 1;
  }
}

/** Both over snapshots.v1 with their state on one tmpfs: the per-operation figures, the layer chain, start-up. */
async function apiBenchmarks() {
  const base = mkdtempSync(join(tmpdir(), 'ctl-bench-snap-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2g', 'tmpfs', base]);
  const children = [];
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
    console.log(`\ncontainerd's 128LayersMount (${LAYERS} layers: prepare, mount, write, unmount, commit; view), median of ${ROUNDS}`);
    console.log(`  containerd (built-in overlayfs) ${chainTheirs.toFixed(0).padStart(7)} ms`);
    console.log(`  ctl snapshotter (overlayfs)     ${chainOurs.toFixed(0).padStart(7)} ms`);
    console.log(`  ratio ours/containerd: ${(chainOurs / chainTheirs).toFixed(2)}x (target <= 1.50x)`);
    await startUp(join(base, 'fresh'));
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
}

if (process.env.BENCH_SUITE_ONLY !== '1') await apiBenchmarks();
if (SUITE_ROUNDS > 0) await containerdSuite();
