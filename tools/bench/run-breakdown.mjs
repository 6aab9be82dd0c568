#!/usr/bin/env node
// Where the milliseconds of `ctl run --rm busybox /bin/true` go, beside containerd's, and the
// hot-path figures of issue 14 in one run.
//
// 1. Breakdown: BENCH_RUNS (15) rounds of a traced `ctl run --rm` (CTL_TRACE, @ctl/proto/trace:
//    the CLI's spans and the daemon's) alternating with `ctr run --rm` against a containerd that
//    logs at debug level (a timestamped line per step). Prints the median of each span (start
//    from the CLI's spawn, duration, spread) and, for ctr, the median time of each step seen in
//    containerd's log.
// 2. Figures: BENCH_FIGURE_RUNS (20) rounds, each running every contender once in a rotating
//    order (so load from the other users of the machine falls on all alike): `node -e 0`,
//    `ctl --version`, `ctl version`, `ctl ps`, `ctl inspect`, `ctl run --rm`, `ctr run --rm`
//    (containerd now at its usual log level) and `podman run --rm` when podman is installed;
//    untraced; without NODE_EXTRA_CA_CERTS (users' hosts) and with it (this machine's default).
//    Medians, quartiles, ratios against the targets, and the load average before and after.
//
// Every engine keeps its state on one tmpfs, the image is the same busybox archive, each
// daemon runs already and has the image unpacked. The ctl containers get --network none
// (loopback only), as ctr's. Timing is wall clock from spawn to exit (spawnSync).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { startContainerd } from './lib/containerd.mjs';
import { ctlBinary, tmpfsBase, waitFor } from './lib/ctl.mjs';
import { podman as startPodman } from './lib/podman.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const FIGURE_RUNS = Number(process.env.BENCH_FIGURE_RUNS ?? 20);
const repo = join(import.meta.dirname, '..', '..');
const { base, remove } = tmpfsBase('ctl-bench-breakdown-');
const plain = { ...process.env };
delete plain.NODE_EXTRA_CA_CERTS;
const withCerts = { ...process.env, NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS || '/etc/ssl/certs/ca-certificates.crt' };
const now = () => performance.timeOrigin + performance.now();
const stop = async (child) => {
  if (child.exitCode !== null || child.signalCode) return;
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
};

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
const quartile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '-');

/** Runs argv to its end; its wall time and pid. */
function timed(argv, env) {
  const t0 = now();
  const r = spawnSync(argv[0], argv.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const t1 = now();
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: exit ${r.status ?? r.signal}: ${r.stderr}`);
  return { t0, t1, pid: r.pid };
}

const readLines = (file) =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
    : [];

/** containerd's log time (RFC 3339 with nanoseconds) in epoch milliseconds, sub-millisecond kept. */
function logTime(line) {
  const m = /time="(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z"/.exec(line);
  return m ? Date.parse(`${m[1]}Z`) + Number(`0.${m[2] ?? '0'}`) * 1000 : undefined;
}

const CTR_STEPS = [
  ['prepare snapshot', /msg="prepare snapshot"/],
  ['/containers/create', /topic=\/containers\/create/],
  ['shim started', /msg="starting signal loop"/],
  ['/tasks/create', /topic=\/tasks\/create/],
  ['/tasks/start', /topic=\/tasks\/start/],
  ['/tasks/exit', /topic=\/tasks\/exit/],
  ['/tasks/delete', /topic=\/tasks\/delete/],
  ['remove snapshot', /msg="remove snapshot"/],
  ['/containers/delete', /topic=\/containers\/delete/],
];

const children = [];
let pod;
try {
  console.log(
    `load average at start: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')} (${execFileSync('nproc').toString().trim()} cpus)`,
  );
  const image = join(base, 'busybox.tar');
  execFileSync('bash', [join(repo, 'tools', 'busybox-image.sh'), image], { stdio: 'ignore' });
  const ctlArgs = ['--root', join(base, 'ctl', 'root'), '--state', join(base, 'ctl', 'state')];
  mkdirSync(join(base, 'ctl', 'state'), { recursive: true });
  const daemonTrace = join(base, 'daemon.trace');
  const daemon = spawn(ctlBinary, [...ctlArgs, 'daemon', '--log-level', 'warn'], {
    stdio: 'inherit',
    env: { ...plain, CTL_SNAPSHOTTER_DRIVERS: 'overlayfs', CTL_TRACE: daemonTrace },
  });
  children.push(daemon);
  const ctl = [ctlBinary, ...ctlArgs, '--no-autostart'];
  const ctdDir = join(base, 'containerd');
  let ctd = startContainerd(ctdDir, { logLevel: 'debug' });
  children.push(ctd.child);
  await waitFor('ctl daemon', () => execFileSync(ctl[0], [...ctl.slice(1), 'version'], { env: plain, stdio: 'pipe' }));
  await waitFor('containerd', () => execFileSync('ctr', ['-a', ctd.address, 'version'], { stdio: 'pipe' }));
  execFileSync(ctl[0], [...ctl.slice(1), 'image', 'import', image], { env: plain, stdio: 'pipe' });
  execFileSync(ctl[0], [...ctl.slice(1), 'create', '--name', 'kept', '--network', 'none', 'busybox', 'true'], {
    env: plain,
    stdio: 'pipe',
  });
  const ctr = () => ['ctr', '-a', ctd.address, '-n', 'bench'];
  execFileSync('ctr', [...ctr().slice(1), 'images', 'import', image], { stdio: 'pipe' });
  const ctlRun = [...ctl, 'run', '--rm', '--network', 'none', 'busybox', '/bin/true'];
  const ctrRun = () => [...ctr(), 'run', '--rm', 'docker.io/library/busybox:latest', 'bench-ctr', '/bin/true'];
  // warm-up: code caches, page cache, the daemons' first-use paths
  for (let i = 0; i < 3; i++) {
    timed(ctlRun, plain);
    timed(ctrRun(), plain);
  }

  // 1. Breakdown.
  const cliTrace = join(base, 'cli.trace');
  const ctlRuns = [];
  const ctrRuns = [];
  for (let i = 0; i < RUNS; i++) {
    ctlRuns.push(timed(ctlRun, { ...plain, CTL_TRACE: cliTrace }));
    ctrRuns.push(timed(ctrRun(), plain));
  }
  const cliSpans = readLines(cliTrace);
  const daemonSpans = readLines(daemonTrace);
  const perSpan = new Map(); // "where name" -> { starts: [], durs: [], counts: [] }
  const add = (key, start, dur, count = 1) => {
    const s = perSpan.get(key) ?? { starts: [], durs: [], counts: [] };
    s.starts.push(start);
    s.durs.push(dur);
    s.counts.push(count);
    perSpan.set(key, s);
  };
  for (const run of ctlRuns) {
    const mine = [
      ...cliSpans.filter((s) => s.pid === run.pid).map((s) => ({ ...s, where: 'cli' })),
      ...daemonSpans
        .filter((s) => s.pid === daemon.pid && s.startMs >= run.t0 && s.startMs <= run.t1)
        .map((s) => ({ ...s, where: 'daemon' })),
    ];
    const byName = new Map();
    for (const s of mine) {
      const key = `${s.where.padEnd(6)} ${s.name}`;
      const o = byName.get(key) ?? { start: s.startMs, dur: 0, count: 0 };
      o.start = Math.min(o.start, s.startMs);
      o.dur += s.durMs;
      o.count++;
      byName.set(key, o);
    }
    for (const [key, o] of byName) add(key, o.start - run.t0, o.dur, o.count);
    const nodeStart = mine.find((s) => s.name === 'cli.node-start');
    const exit = mine.find((s) => s.name === 'cli.exit');
    if (nodeStart) add("cli    (exec, up to Node's time origin)", 0, nodeStart.startMs - run.t0);
    if (exit) add('cli    (process end after the exit event)', exit.startMs + exit.durMs - run.t0, run.t1 - exit.startMs - exit.durMs);
    add('total  ctl run --rm (spawn to exit)', 0, run.t1 - run.t0);
  }
  const rows = [...perSpan.entries()].sort((a, b) => median(a[1].starts) - median(b[1].starts));
  console.log(`\nctl run --rm --network none busybox /bin/true: spans, medians of ${RUNS} traced runs (ms; start from the CLI's spawn)`);
  console.log(`  ${'where  span'.padEnd(64)} ${'start'.padStart(7)} ${'dur'.padStart(7)}  ${'p25..p75'.padStart(13)}  n/run`);
  for (const [key, s] of rows) {
    console.log(
      `  ${key.padEnd(64)} ${f1(median(s.starts)).padStart(7)} ${f1(median(s.durs)).padStart(7)}  ${`${f1(quartile(s.durs, 0.25))}..${f1(quartile(s.durs, 0.75))}`.padStart(13)}  ${median(s.counts)}`,
    );
  }

  const ctdLog = readFileSync(ctd.logFile, 'utf8').split('\n');
  const stamped = ctdLog.map((l) => ({ t: logTime(l), l })).filter((x) => x.t !== undefined);
  const steps = new Map(CTR_STEPS.map(([name]) => [name, []]));
  const totals = [];
  for (const run of ctrRuns) {
    const lines = stamped.filter((x) => x.t >= run.t0 && x.t <= run.t1);
    for (const [name, re] of CTR_STEPS) {
      const hit = lines.find((x) => re.test(x.l));
      if (hit) steps.get(name).push(hit.t - run.t0);
    }
    totals.push(run.t1 - run.t0);
  }
  console.log(`\nctr run --rm busybox /bin/true: steps in containerd's debug log, medians of ${RUNS} runs (ms from ctr's spawn)`);
  let previous = 0;
  for (const [name, at] of steps) {
    if (!at.length) continue;
    const m = median(at);
    console.log(`  ${name.padEnd(30)} at ${f1(m).padStart(7)}  (+${f1(m - previous)})`);
    previous = m;
  }
  console.log(`  ${'ctr exited'.padEnd(30)} at ${f1(median(totals)).padStart(7)}  (+${f1(median(totals) - previous)})`);

  // 2. Figures, untraced, containerd at its usual log level.
  await stop(ctd.child);
  ctd = startContainerd(ctdDir);
  children.push(ctd.child);
  await waitFor('containerd', () => execFileSync('ctr', ['-a', ctd.address, 'version'], { stdio: 'pipe' }));
  pod = startPodman(join(base, 'podman'));
  pod?.run(['load', '-i', image]);
  const contenders = [
    ['node -e 0', [process.execPath, '-e', '0']],
    ['ctl --version', [ctlBinary, '--version']],
    ['ctl version', [...ctl, 'version']],
    ['ctl ps', [...ctl, 'ps', '-a']],
    ['ctl inspect', [...ctl, 'inspect', 'kept']],
    ['ctl run --rm', ctlRun],
    ['ctr run --rm', ctrRun()],
    ...(pod ? [['podman run --rm', ['podman', ...pod.args, 'run', '--rm', '--network', 'none', 'busybox', '/bin/true']]] : []),
  ];
  const targets = {
    'ctl --version': ['node -e 0', 1.2],
    'ctl version': ['node -e 0', 1.6],
    'ctl ps': ['node -e 0', 1.6],
    'ctl inspect': ['node -e 0', 1.6],
    'ctl run --rm': ['ctr run --rm', 0.8],
  };
  for (const [label, env] of [
    ['without NODE_EXTRA_CA_CERTS', plain],
    ['with NODE_EXTRA_CA_CERTS', withCerts],
  ]) {
    const times = new Map(contenders.map(([name]) => [name, []]));
    for (const [, argv] of contenders) timed(argv, { ...env, ...(argv[0] === 'podman' ? pod.env : {}) });
    for (let i = 0; i < FIGURE_RUNS; i++) {
      for (let j = 0; j < contenders.length; j++) {
        const [name, argv] = contenders[(i + j) % contenders.length];
        const r = timed(argv, { ...env, ...(argv[0] === 'podman' ? pod.env : {}) });
        times.get(name).push(r.t1 - r.t0);
      }
    }
    const med = (name) => median(times.get(name));
    console.log(`\n${label}: medians of ${FIGURE_RUNS} rounds (ms), load average now ${loadavg()[0].toFixed(2)}`);
    console.log(`  ${'command'.padEnd(18)} ${'median'.padStart(8)} ${'p25..p75'.padStart(15)}  ratio`);
    for (const [name] of contenders) {
      const t = times.get(name);
      const target = targets[name];
      const extra = [`${(med(name) / med('node -e 0')).toFixed(2)}x node`];
      if (name === 'ctl run --rm') {
        extra.push(`${(med(name) / med('ctr run --rm')).toFixed(2)}x ctr`);
        if (pod) extra.push(`${(med(name) / med('podman run --rm')).toFixed(2)}x podman (target <= 0.6x)`);
      }
      if (target)
        extra.push(`target <= ${target[1]}x ${target[0].split(' ')[0]}: ${med(name) / med(target[0]) <= target[1] ? 'met' : 'MISSED'}`);
      console.log(
        `  ${name.padEnd(18)} ${f1(med(name)).padStart(8)} ${`${f1(quartile(t, 0.25))}..${f1(quartile(t, 0.75))}`.padStart(15)}  ${extra.join(', ')}`,
      );
    }
  }
  console.log(
    `\nload average at the end: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  try {
    execFileSync(ctl[0], [...ctl.slice(1), 'rm', '-f', 'kept'], { env: plain, stdio: 'ignore' });
  } catch {}
} finally {
  await pod?.close();
  for (const child of children.reverse()) await stop(child);
  // the ctl instance's cgroup parent, and containerd's namespace cgroup, left empty by their containers
  const parent = `ctl-${createHash('sha256')
    .update(join(base, 'ctl', 'root'))
    .digest('hex')
    .slice(0, 12)}`;
  for (const c of readdirSync('/sys/fs/cgroup'))
    for (const d of [`${parent}/default`, parent, 'bench'])
      try {
        rmdirSync(`/sys/fs/cgroup/${c}/${d}`);
      } catch {}
  remove();
}
