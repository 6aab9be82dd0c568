#!/usr/bin/env node
// The daemon's memory over N `ctl run --rm --network none busybox true` (issue 14: RSS flat after
// warm-up), per 100 cycles, the daemon started as ctl's autostart starts it (startCtl) with its
// state on a tmpfs. Each row is read between runs without disturbing the daemon's course (no
// forced GC): RSS, its anonymous part, V8's resident spaces, the live heap (garbage included),
// what V8 lets Node and glibc hold outside its heap (anonymous minus V8's spaces: malloc arenas,
// thread stacks), Buffers, and the time per run. At the cycles in RSS_GC (default: the last one)
// the probe then runs a full GC and the row gains the heap used after it: what the daemon still
// references. A forced GC shrinks the old generation, so later rows' RSS is lower than it would
// have been. `node -e 0`'s RSS is printed beside, the floor of any Node process.
// Then the memory per running container (issue 14: at most 1 MiB): RSS_SLEEPERS (50) `run -d
// sleep 600` started at once, the daemon's growth plus their shims' RSS (and PSS, which shares
// out the pages the shims have in common) per container, as tools/bench/run.mjs counts it.
//   node tools/bench/daemon-rss.mjs [CYCLES]       (default 1000)
//   RSS_SLEEPERS=0                                no sleepers
//   RSS_NODE_OPTIONS=--max-old-space-size=256     more Node flags for the daemon (before ctl's own)
//   RSS_GC=100,500,1000                           full GCs (and heap-after-GC figures) at those cycles
//   RSS_SNAPSHOTS=200,1000                        heap snapshots after those cycles (GC first) in
//                                                 RSS_SNAPSHOT_DIR (/tmp); tools/heap-diff.mjs compares two
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pgrep, startCtl, tmpfsBase } from './lib/ctl.mjs';
import { nodeStart } from './lib/stats.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CYCLES = Number(process.argv[2] ?? 1000);
const atCycles = (v) => new Set((v ?? '').split(',').filter(Boolean).map(Number));
const GCS = atCycles(process.env.RSS_GC ?? String(CYCLES));
const SNAPSHOTS = atCycles(process.env.RSS_SNAPSHOTS);
const snapshotDir = process.env.RSS_SNAPSHOT_DIR ?? '/tmp';
const SLEEPERS = Number(process.env.RSS_SLEEPERS ?? 50);
const plain = { ...process.env, CTL_DEFAULT_NETWORK: 'none' };
delete plain.NODE_EXTRA_CA_CERTS;

const MiB = (bytes) => (bytes / 1048576).toFixed(1);
const tmp = tmpfsBase('ctl-bench-rss-');
const probeOut = join(tmp.base, 'probe.json');
const noGc = `${probeOut}.no-gc`;
const snapshotRequest = join(tmp.base, 'snapshot-request');
let instance;

/** What the daemon holds now (leaks-probe.cjs), after a full GC when collect is set. */
async function probe(pid, collect, snapshot) {
  if (existsSync(probeOut)) unlinkSync(probeOut);
  if (collect) rmSync(noGc, { force: true });
  else writeFileSync(noGc, '');
  if (snapshot) writeFileSync(snapshotRequest, snapshot);
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; !existsSync(probeOut); i++) {
    if (i > 600) throw new Error('the daemon did not answer the memory probe');
    await new Promise((r) => setTimeout(r, 50));
  }
  return JSON.parse(readFileSync(probeOut, 'utf8'));
}

function nodeRss() {
  return Number(
    execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.memoryUsage().rss))'], { env: plain, encoding: 'utf8' }),
  );
}

const header = ['cycles', 'rss', 'anon', 'file', 'v8', 'heapLive', 'outsideV8', 'external', 'ms/run', 'heapAfterGC'];
const row = (cells) => console.log(cells.map((c) => String(c).padStart(12)).join(''));

try {
  instance = await startCtl(join(tmp.base, 'ctl'), plain, undefined, {
    NODE_OPTIONS: [process.env.RSS_NODE_OPTIONS, '--expose-gc', '-r', join(repo, 'tools', 'leaks-probe.cjs')].filter(Boolean).join(' '),
    LEAKS_PROBE_OUT: probeOut,
    LEAKS_PROBE_SNAPSHOT: snapshotRequest,
  });
  const pid = instance.daemonPid;
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ', 3).join(' ');
  console.log(`node -e 0: ${nodeStart(plain).toFixed(1)} ms, RSS ${MiB(nodeRss())} MiB; load ${load}; state on tmpfs; MiB but ms/run`);
  console.log(
    `daemon: ${readFileSync(`/proc/${pid}/environ`, 'utf8')
      .split('\0')
      .filter((e) => /^(NODE_OPTIONS|MALLOC_ARENA_MAX)=/.test(e))
      .join(' ')}`,
  );
  row(header);
  let last = { at: process.hrtime.bigint(), cycle: 0 };
  const sample = async (n) => {
    const ms = n ? (Number(process.hrtime.bigint() - last.at) / 1e6 / (n - last.cycle)).toFixed(1) : '';
    const snapshot = SNAPSHOTS.has(n) ? join(snapshotDir, `ctl-rss-${n}.heapsnapshot`) : undefined;
    const s = await probe(pid, GCS.has(n) || Boolean(snapshot), snapshot);
    const l = s.live;
    row([
      n,
      MiB(l.rss),
      MiB(l.rssAnon),
      MiB(l.rssFile),
      MiB(l.v8Physical),
      MiB(l.heapUsed),
      MiB(l.rssAnon - l.v8Physical),
      MiB(l.external),
      ms,
      s.collected ? MiB(s.heapUsed) : '',
    ]);
    last = { at: process.hrtime.bigint(), cycle: n };
  };
  await sample(0);
  for (let i = 1; i <= CYCLES; i++) {
    instance.ctl(['run', '--rm', '--network', 'none', 'busybox', 'true']);
    if (i % 100 === 0 || i === CYCLES || GCS.has(i) || SNAPSHOTS.has(i)) await sample(i);
  }
  if (SLEEPERS) await sleepers(instance);
} finally {
  await instance?.stop();
  tmp.remove();
}

/** kB of VmRSS and of Pss (smaps_rollup) of a process. */
function memoryOf(pid) {
  const kb = (text, name) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(text)?.[1] ?? 0);
  return {
    rss: kb(readFileSync(`/proc/${pid}/status`, 'utf8'), 'VmRSS'),
    pss: kb(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'), 'Pss'),
  };
}

async function sleepers(ctl) {
  const pid = ctl.daemonPid;
  const shims = () => pgrep(['-f', `ctl-shim .*${tmp.base}/`]);
  const exec = (args) =>
    new Promise((resolve, reject) =>
      execFile(ctl.argv[0], [...ctl.argv.slice(1), ...args], { env: plain }, (err) => (err ? reject(err) : resolve())),
    );
  const before = memoryOf(pid).rss;
  const names = Array.from({ length: SLEEPERS }, (_, i) => `sleeper${i}`);
  try {
    await Promise.all(names.map((name) => exec(['run', '-d', '--network', 'none', '--name', name, 'busybox', 'sleep', '600'])));
    const after = memoryOf(pid).rss;
    const shim = shims().map(memoryOf);
    if (shim.length !== SLEEPERS) throw new Error(`${shim.length} shims for ${SLEEPERS} containers`);
    const sum = (key) => shim.reduce((n, m) => n + m[key], 0);
    const per = (kb) => (kb / SLEEPERS / 1024).toFixed(2);
    console.log(
      `\n${SLEEPERS} running containers: per container ${per(after - before + sum('rss'))} MiB (shim RSS ${per(sum('rss'))}, PSS ${per(sum('pss'))}; daemon growth ${per(after - before)}: ${MiB(before * 1024)} -> ${MiB(after * 1024)} MiB)`,
    );
  } finally {
    await Promise.all(names.map((name) => exec(['rm', '-f', name]).catch(() => undefined)));
  }
}
