#!/usr/bin/env node
// What Tasks.List and Tasks.Get cost the daemon, as `ctl ps` and `ctl inspect` call them: a
// private instance on a tmpfs runs BENCH_CONTAINERS (1, then 50 by default; comma-separated)
// detached busybox sleeps (--network none), one of them paused when there are several, then
// BENCH_RUNS (30) rounds of `ctl ps` and `ctl inspect <first>`. The daemon records its spans
// (CTL_TRACE); printed are the medians and quartiles of `rpc.server …/Tasks/List` and `…/Get`,
// and of each command's wall time.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startCtl, tmpfsBase } from './lib/ctl.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? 30);
const COUNTS = (process.env.BENCH_CONTAINERS ?? '1,50').split(',').map(Number);
const LIST = 'rpc.server /containerd.services.tasks.v1.Tasks/List';
const GET = 'rpc.server /containerd.services.tasks.v1.Tasks/Get';

const sorted = (xs) => [...xs].sort((a, b) => a - b);
const at = (xs, q) => sorted(xs)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
function median(xs) {
  const s = sorted(xs);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '-');
const summary = (xs) => `median ${f2(median(xs))} ms (q1 ${f2(at(xs, 0.25))}, q3 ${f2(at(xs, 0.75))}, n ${xs.length})`;

const { base, remove } = tmpfsBase('ctl-bench-task-status-');
const trace = join(base, 'daemon-trace.jsonl');
let instance;
try {
  instance = await startCtl(base, { ...process.env }, undefined, { CTL_TRACE: trace });
  const { ctl, argv } = instance;
  const timed = (args) => {
    const t0 = performance.now();
    const r = spawnSync(argv[0], [...argv.slice(1), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status !== 0) throw new Error(`ctl ${args.join(' ')}: exit ${r.status ?? r.signal}: ${r.stderr}`);
    return performance.now() - t0;
  };
  const ids = [];
  for (const count of COUNTS) {
    while (ids.length < count) ids.push(ctl(['run', '-d', '--network', 'none', 'busybox', 'sleep', '3600']).toString().trim());
    if (ids.length > 1) ctl(['pause', ids[ids.length - 1]]);
    rmSync(trace, { force: true });
    const wall = { ps: [], inspect: [] };
    for (let i = 0; i < RUNS; i++) {
      wall.ps.push(timed(['ps']));
      wall.inspect.push(timed(['inspect', ids[0]]));
    }
    const spans = existsSync(trace)
      ? readFileSync(trace, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l))
      : [];
    const durs = (name) => spans.filter((s) => s.name === name).map((s) => s.durMs);
    console.log(`${count} container(s)${ids.length > 1 ? ', one paused' : ''}:`);
    console.log(`  Tasks/List   ${summary(durs(LIST))}`);
    console.log(`  Tasks/Get    ${summary(durs(GET))}`);
    console.log(`  ctl ps       ${summary(wall.ps)}`);
    console.log(`  ctl inspect  ${summary(wall.inspect)}`);
    if (ids.length > 1) ctl(['unpause', ids[ids.length - 1]]);
  }
  for (const id of ids) ctl(['rm', '-f', id]);
} finally {
  await instance?.stop();
  remove();
}
