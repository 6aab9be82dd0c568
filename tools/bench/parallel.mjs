#!/usr/bin/env node
// 50 containers started at once and removed at once: `ctl run -d --network none busybox sleep`
// against `ctr run -d` of the same image on Debian's containerd with runc (target: ctl at most
// 0.7x containerd's time, for the starts and for the removals). Removal is what each tool offers:
// `ctl rm -f NAME`, and for ctr `ctr tasks delete --force NAME` then `ctr containers delete NAME`
// (ctr cannot delete a container whose task runs). Rounds alternate which tool goes first, and
// each tool's batch runs alone (the other's containers are all removed by then), all state on one
// tmpfs, each daemon already running, the image already there. Medians and spread are printed,
// with `node -e 0` and the load average beside them, and the CPU time each side used (a cgroup per
// daemon with its helpers and shims, one for the command lines): on a busy machine the wall time
// says how the load fell, the CPU time what each contender costs.
//   BENCH_SLEEPERS (50), BENCH_ROUNDS (6); BENCH_BASELINE_CTL=<another build's ctl> measured beside.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startContainerd } from './lib/containerd.mjs';
import { startCtl, tmpfsBase, waitFor } from './lib/ctl.mjs';
import { cpuGroups } from './lib/cpuacct.mjs';
import { certEnvs } from './lib/netns.mjs';
import { median } from './lib/stats.mjs';

const SLEEPERS = Number(process.env.BENCH_SLEEPERS ?? 50);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const [[, plain]] = certEnvs();

/** Runs argv to its end; a failure fails the bench (a container not made is not a fast start). */
const exec = (argv, env) =>
  new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${argv.join(' ')}: exit ${code}: ${err.trim()}`))));
  });

/** Milliseconds until all SLEEPERS of one(i) have ended. */
async function timeAll(one) {
  const t = process.hrtime.bigint();
  await Promise.all(Array.from({ length: SLEEPERS }, (_, i) => one(i)));
  return Number(process.hrtime.bigint() - t) / 1e6;
}

/** Wall time of a batch, and the CPU time of the command lines and of the daemon's side. */
async function measure(contender, what) {
  const before = [clients?.ms(), contender.server?.ms()];
  const wall = await timeAll(contender[what]);
  return { wall, clients: clients ? clients.ms() - before[0] : NaN, server: contender.server ? contender.server.ms() - before[1] : NaN };
}

function nodeStart() {
  const t = process.hrtime.bigint();
  execFileSync(process.execPath, ['-e', '0'], { env: plain });
  return Number(process.hrtime.bigint() - t) / 1e6;
}

const tmp = tmpfsBase('ctl-bench-parallel-');
const instances = [];
const contenders = {};
const cgroups = cpuGroups('ctl-bench-parallel');
let clients;
let containerd;
try {
  const builds = { ctl: undefined, ...(process.env.BENCH_BASELINE_CTL ? { baseline: process.env.BENCH_BASELINE_CTL } : {}) };
  for (const [name, binary] of Object.entries(builds)) {
    const instance = await startCtl(join(tmp.base, name), plain, binary);
    instances.push(instance);
    const run = (i) => [...instance.argv, 'run', '-d', '--network', 'none', '--name', `p${i}`, 'busybox', 'sleep', '600'];
    const server = cgroups?.group(name);
    for (const pid of instance.pids()) server?.add(pid);
    contenders[name] = {
      server,
      start: (i) => exec(run(i), plain),
      remove: (i) => exec([...instance.argv, 'rm', '-f', `p${i}`], plain),
    };
  }
  const ctd = startContainerd(join(tmp.base, 'containerd'));
  containerd = ctd.child;
  const ctdServer = cgroups?.group('containerd');
  ctdServer?.add(containerd.pid);
  const ctr = ['ctr', '-a', ctd.address, '-n', 'bench'];
  await waitFor('containerd', () => execFileSync(ctr[0], [...ctr.slice(1), 'version'], { stdio: 'pipe' }));
  execFileSync(ctr[0], [...ctr.slice(1), 'images', 'import', join(tmp.base, 'ctl', 'busybox.tar')], { stdio: 'pipe' });
  contenders.containerd = {
    server: ctdServer,
    start: (i) => exec([...ctr, 'run', '-d', 'docker.io/library/busybox:latest', `p${i}`, 'sleep', '600'], plain),
    remove: async (i) => {
      await exec([...ctr, 'tasks', 'delete', '--force', `p${i}`], plain);
      await exec([...ctr, 'containers', 'delete', `p${i}`], plain);
    },
  };

  // The command lines are this process's children: it joins their group (each batch runs alone).
  clients = cgroups?.group('clients');
  clients?.add(process.pid);
  const names = Object.keys(contenders);
  const times = Object.fromEntries(names.map((n) => [n, { start: [], remove: [] }]));
  const nodes = [];
  // One warm-up round (first containers make cgroup parents, runtime roots, caches), then rounds
  // in which each contender goes first in turn.
  for (let round = 0; round <= ROUNDS; round++) {
    const order = [...names.slice(round % names.length), ...names.slice(0, round % names.length)];
    for (const name of order) {
      const start = await measure(contenders[name], 'start');
      const remove = await measure(contenders[name], 'remove');
      if (round > 0) {
        times[name].start.push(start);
        times[name].remove.push(remove);
      }
    }
    nodes.push(nodeStart());
  }

  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const fmt = (xs) => `${median(xs).toFixed(0)} ms (${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)})`;
  const cpu = (ms) => `${median(ms.map((m) => m.clients)).toFixed(0)} + ${median(ms.map((m) => m.server)).toFixed(0)} ms`;
  console.log(
    `\n${SLEEPERS} containers at once, medians of ${ROUNDS} rounds (min-max); node -e 0 ${median(nodes).toFixed(1)} ms; load ${load}`,
  );
  for (const name of names) {
    const t = times[name];
    console.log(`  ${name.padEnd(10)} start ${fmt(t.start.map((m) => m.wall))}, remove ${fmt(t.remove.map((m) => m.wall))}`);
    if (cgroups) console.log(`  ${''.padEnd(10)} CPU (command lines + daemon side): start ${cpu(t.start)}, remove ${cpu(t.remove)}`);
  }
  for (const name of names.filter((n) => n !== 'containerd')) {
    // The median of each round's ratio: steadier on a busy machine than a ratio of medians.
    const ratio = (what, of = (m) => m.wall) => median(times[name][what].map((m, i) => of(m) / of(times.containerd[what][i]))).toFixed(2);
    console.log(`  ${name}/containerd: start ${ratio('start')}x, remove ${ratio('remove')}x (target <= 0.70x)`);
    if (cgroups) {
      const total = (m) => m.clients + m.server;
      console.log(`    CPU time: start ${ratio('start', total)}x, remove ${ratio('remove', total)}x`);
    }
  }
} finally {
  // After a failure, containers may be left (shims outlive their daemons): each tool removes its own.
  for (const c of Object.values(contenders)) await timeAll((i) => c.remove(i).catch(() => undefined));
  for (const instance of instances) await instance.stop();
  if (containerd) {
    containerd.kill('SIGTERM');
    await new Promise((r) => (containerd.exitCode !== null || containerd.signalCode ? r() : containerd.once('exit', r)));
  }
  tmp.remove();
  if (clients) cgroups.leave(process.pid);
  await cgroups?.remove();
  // containerd's containers' cgroup parent (its namespace's name), left empty by them
  for (const c of readdirSync('/sys/fs/cgroup'))
    try {
      execFileSync('rmdir', [`/sys/fs/cgroup/${c}/bench`], { stdio: 'ignore' });
    } catch {}
}
