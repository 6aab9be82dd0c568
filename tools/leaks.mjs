#!/usr/bin/env node
// Leak check (issue 11): N cycles of `ctl run --rm busybox true` and of `run -d` / `exec` /
// `rm -f` against one daemon of a private instance (--root/--state under one tmpfs), printing
// every 100 cycles what the engine holds: mounts under the instance, cgroup directories on the
// instance's cgroup parent, shims, files under the state dir, the daemon's open fds and its
// resident memory; and, through tools/leaks-probe.cjs (a full GC first), what its JavaScript
// heap still holds, its anonymous memory (heap, malloc arenas, V8's spaces) and its external
// memory (Buffers): the heap tells a leak from memory V8 or malloc keep for later.
// Everything but RSS must come back to where it started; RSS must be flat after warm-up.
// The daemon runs as ctl's autostart runs it (packages/cli/src/daemon-process.ts).
//   node tools/leaks.mjs [CYCLES]      (default 1000; LEAKS_MODES=rm,exec to pick)
//   LEAKS_SNAPSHOTS=100,500            heap snapshots after those cycles, in LEAKS_SNAPSHOT_DIR (/tmp);
//                                      writing one leaves RSS higher from then on
//   LEAKS_DAEMON_DEFAULTS=0            the daemon on Node's defaults instead (for a before/after)
//   LEAKS_NETWORK=bridge               containers on the default bridge (in a netns of its own:
//                                      unshare -n sh -c 'ip link set lo up; exec node tools/leaks.mjs')
// Exits 1 when a count other than RSS ended above its start (taken after a few warm-up cycles).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const ctl = join(repo, 'node_modules', '.bin', 'ctl');
const CYCLES = Number(process.argv[2] ?? 1000);
const MODES = (process.env.LEAKS_MODES ?? 'rm,exec').split(',');
const base = mkdtempSync('/tmp/ctl-leaks-');
execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2g', 'tmpfs', base]);
const root = join(base, 'root');
const state = join(base, 'state');
mkdirSync(state, { recursive: true });
// No default bridge: the script works in the host's network namespace, whose interfaces and
// firewall are not ours to change (the network suites run in a netns of their own).
const env = { ...process.env, CTL_NO_AUTOSTART: '1', CTL_DEFAULT_NETWORK: 'none' };
if (process.env.LEAKS_NETWORK) env.CTL_DEFAULT_NETWORK = process.env.LEAKS_NETWORK;
delete env.NODE_EXTRA_CA_CERTS;
const probeOut = join(base, 'probe.json');
const snapshotRequest = join(base, 'snapshot-request');
const SNAPSHOTS = new Set((process.env.LEAKS_SNAPSHOTS ?? '').split(',').filter(Boolean).map(Number));
const snapshotDir = process.env.LEAKS_SNAPSHOT_DIR ?? '/tmp';
const run = (...args) =>
  execFileSync(ctl, ['--root', root, '--state', state, ...args], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const WARMUP = 10;

// This instance's cgroup parent (proto/src/paths.ts): what its containers' cgroups live under.
const parent = createRequire(join(repo, 'proto', 'package.json'))('./dist/paths.js').cgroupParent({ root });

/** Cgroup directories under this instance's parent, in every v1 hierarchy and the v2 mount. */
function cgroupDirs() {
  let n = 0;
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      n++;
      walk(join(dir, e.name));
    }
  };
  for (const h of readdirSync('/sys/fs/cgroup')) {
    try {
      walk(join('/sys/fs/cgroup', h, parent));
    } catch {
      // no such parent in this hierarchy (yet, or any more)
    }
  }
  return n;
}

function countFiles(dir) {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'daemon.log') continue;
    n++;
    if (e.isDirectory()) n += countFiles(join(dir, e.name));
  }
  return n;
}

function pgrepCount(pattern) {
  try {
    return execFileSync('pgrep', ['-c', '-f', pattern], { encoding: 'utf8' }).trim() * 1;
  } catch {
    return 0;
  }
}

const MiB = (bytes) => Math.round(bytes / 104857.6) / 10;

/** What the daemon's heap holds after a full GC (tools/leaks-probe.cjs answers SIGUSR2). */
async function probe(daemonPid) {
  if (existsSync(probeOut)) unlinkSync(probeOut);
  process.kill(daemonPid, 'SIGUSR2');
  for (let i = 0; !existsSync(probeOut); i++) {
    if (i > 600) throw new Error('the daemon did not answer the memory probe');
    await new Promise((r) => setTimeout(r, 50));
  }
  return JSON.parse(readFileSync(probeOut, 'utf8'));
}

async function sample(daemonPid, snapshotName) {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(`${base}/`)).length;
  // RSS as it is between runs, before the probe's forced GC changes it.
  const status = readFileSync(`/proc/${daemonPid}/status`, 'utf8');
  if (snapshotName) writeFileSync(snapshotRequest, join(snapshotDir, snapshotName));
  const heap = await probe(daemonPid);
  return {
    mounts,
    cgroups: cgroupDirs(),
    shims: pgrepCount(`ctl-shim.*${state}`),
    stateFiles: countFiles(state),
    fds: readdirSync(`/proc/${daemonPid}/fd`).length,
    rssMiB: Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 102.4) / 10,
    // After a full GC: what JavaScript still references, and memory outside the V8 heap.
    heapMiB: MiB(heap.heapUsed),
    youngMiB: MiB(heap.spaces.new_space.size),
    anonMiB: MiB(heap.rssAnon),
    extMiB: MiB(heap.external),
  };
}

const defaults = process.env.LEAKS_DAEMON_DEFAULTS !== '0';
const { DAEMON_NODE_FLAGS, daemonEnv } = createRequire(join(repo, 'packages', 'cli', 'package.json'))('./dist/src/daemon-process.js');
const daemonArgs = [
  ...(defaults ? DAEMON_NODE_FLAGS : []),
  '--expose-gc',
  '-r',
  join(repo, 'tools', 'leaks-probe.cjs'),
  join(repo, 'packages', 'cli', 'bin', 'ctl.js'),
];
const daemon = spawn(process.execPath, [...daemonArgs, '--root', root, '--state', state, 'daemon'], {
  env: { ...(defaults ? daemonEnv(env) : env), LEAKS_PROBE_OUT: probeOut, LEAKS_PROBE_SNAPSHOT: snapshotRequest },
  stdio: 'ignore',
});
let failed = false;
// Interrupted: the daemon and the tmpfs go as on a normal end (the finally below does not run).
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    daemon.kill('SIGTERM');
    daemon.once('exit', () => {
      execFileSync('umount', ['--recursive', '--lazy', base]);
      rmSync(base, { recursive: true, force: true });
      process.exit(130);
    });
  });
}
try {
  for (let i = 0; ; i++) {
    try {
      run('version');
      break;
    } catch {
      if (i > 400) throw new Error('the daemon did not answer');
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const image = join(base, 'busybox.tar');
  execFileSync('bash', [join(repo, 'tools', 'busybox-image.sh'), image]);
  run('image', 'import', image);
  const cycle = {
    rm: () => run('run', '--rm', 'busybox', 'true'),
    exec: (i) => {
      const name = `leak${i < 0 ? `w${-i}` : i}`;
      run('run', '-d', '--name', name, 'busybox', 'sleep', '60');
      run('exec', name, 'true');
      run('rm', '-f', name);
    },
  };
  const settings = defaults
    ? [...DAEMON_NODE_FLAGS, ...Object.entries(daemonEnv({})).map(([k, v]) => `${k}=${v}`)].join(' ')
    : "Node's defaults";
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ', 3).join(' ');
  console.log(`node -e 0: ${timeNode()} ms; load ${load}; ${CYCLES} cycles per mode after ${WARMUP} to warm up; state on tmpfs`);
  console.log(`daemon: ${settings}`);

  for (const mode of MODES) {
    // The first runs make directories and connections that stay (task and runtime roots, the
    // snapshotter's wire): the baseline is taken after them.
    for (let i = 1; i <= WARMUP; i++) cycle[mode](-i);
    const start = await sample(daemon.pid, SNAPSHOTS.has(0) ? `ctl-leaks-${mode}-0.heapsnapshot` : undefined);
    console.log(`\n${mode === 'rm' ? 'run --rm busybox true' : 'run -d / exec / rm -f'}`);
    console.log(['cycles', ...Object.keys(start)].map((h) => h.padStart(12)).join(''));
    const line = (n, s) => console.log([n, ...Object.values(s)].map((v) => String(v).padStart(12)).join(''));
    line(0, start);
    let last = start;
    for (let i = 1; i <= CYCLES; i++) {
      cycle[mode](i);
      const snapshot = SNAPSHOTS.has(i) ? `ctl-leaks-${mode}-${i}.heapsnapshot` : undefined;
      if (i % 100 === 0 || i === CYCLES || snapshot) line(i, (last = await sample(daemon.pid, snapshot)));
    }
    for (const key of ['mounts', 'cgroups', 'shims', 'stateFiles', 'fds']) {
      if (last[key] > start[key]) {
        console.log(`LEAK: ${key} ${start[key]} → ${last[key]}`);
        failed = true;
      }
    }
  }
} finally {
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.once('exit', r));
  execFileSync('umount', ['--recursive', '--lazy', base]);
  rmSync(base, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);

function timeNode() {
  const t = process.hrtime.bigint();
  execFileSync(process.execPath, ['-e', '0'], { env });
  return Number((process.hrtime.bigint() - t) / 100000n) / 10;
}
