#!/usr/bin/env node
// `ctl run --rm busybox /bin/true` end to end against `ctr run --rm` of the same image on
// Debian's containerd with runc, and `podman run --rm` (runc) when podman is installed, side by
// side with hyperfine (each contender's daemon already running, image already unpacked; all
// state on one tmpfs so the disk's state does not count). Reported without NODE_EXTRA_CA_CERTS
// (users' hosts) and with it (this machine's default).
// Also: memory the engine adds per running container (shims plus daemon growth; podman: its
// conmons) for 50 sleeping containers (BENCH_SLEEPERS to change), and the time to start them all
// in parallel and to remove them all in parallel (tools/bench/parallel.mjs repeats those in
// alternating rounds, with the CPU time of each side).
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startContainerd } from './lib/containerd.mjs';
import { daemonProcessEnv, waitFor } from './lib/ctl.mjs';
import { podman as startPodman } from './lib/podman.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ctl = join(repo, 'node_modules', '.bin', 'ctl');
const RUNS = Number(process.env.BENCH_RUNS ?? 30);
const SLEEPERS = Number(process.env.BENCH_SLEEPERS ?? 50);
const base = mkdtempSync('/tmp/ctl-bench-run-');
execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2g', 'tmpfs', base]);
const children = [];
let pod;
const plain = { ...process.env };
delete plain.NODE_EXTRA_CA_CERTS;
const q = (s) => `'${s}'`;

/** Resident memory (kB) of the processes whose command line matches re. */
function rssOf(re) {
  let total = 0;
  let pids = [];
  try {
    pids = execFileSync('pgrep', ['-f', '--', re], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    // none
  }
  for (const pid of pids) {
    try {
      total += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    } catch {}
  }
  return total;
}

try {
  const image = join(base, 'busybox.tar');
  execFileSync('bash', [join(repo, 'tools', 'busybox-image.sh'), image]);
  const ctlArgs = ['--root', join(base, 'ctl', 'root'), '--state', join(base, 'ctl', 'state')];
  mkdirSync(join(base, 'ctl', 'state'), { recursive: true });
  const daemon = spawn(ctl, [...ctlArgs, 'daemon', '--log-level', 'warn'], {
    stdio: 'inherit',
    env: { ...daemonProcessEnv(plain), CTL_SNAPSHOTTER_DRIVERS: 'overlayfs' },
  });
  children.push(daemon);
  const { address, child } = startContainerd(join(base, 'containerd'));
  children.push(child);
  await waitFor('ctl daemon', () => execFileSync(ctl, [...ctlArgs, '--no-autostart', 'version'], { env: plain, stdio: 'pipe' }));
  await waitFor('containerd', () => execFileSync('ctr', ['-a', address, 'version'], { stdio: 'pipe' }));
  execFileSync(ctl, [...ctlArgs, 'image', 'import', image], { env: plain, stdio: 'pipe' });
  execFileSync('ctr', ['-a', address, '-n', 'bench', 'images', 'import', image], { stdio: 'pipe' });
  pod = startPodman(join(base, 'podman'));
  pod?.run(['load', '-i', image]);

  const ctlCmd = `${q(ctl)} ${ctlArgs.map(q).join(' ')} --no-autostart`;
  const ctrCmd = `ctr -a ${q(address)} -n bench`;
  const json = join(base, 'run.json');
  const measure = (withCerts) => {
    execFileSync(
      'hyperfine',
      [
        '--warmup',
        '3',
        '--runs',
        String(RUNS),
        '--export-json',
        json,
        '--style',
        'basic',
        '--command-name',
        'ctr run --rm (containerd + runc)',
        `${ctrCmd} run --rm docker.io/library/busybox:latest bench-ctr /bin/true`,
        '--command-name',
        'ctl run --rm --network none',
        // ctr's container, like this one, gets a network namespace with loopback only (the cost of
        // the default bridge is tools/bench/run-network.mjs's, in a netns of its own)
        `${ctlCmd} run --rm --network none busybox /bin/true`,
        ...(pod ? ['--command-name', 'podman run --rm (runc)', `${pod.shell} run --rm --network none busybox /bin/true`] : []),
      ],
      { stdio: 'inherit', env: withCerts ? process.env : plain },
    );
    const [c, o, p] = JSON.parse(readFileSync(json, 'utf8')).results.map((r) => r.median);
    return { c, o, p };
  };
  const a = measure(false);
  const b = process.env.NODE_EXTRA_CA_CERTS ? measure(true) : undefined;

  // Memory per running container and parallel starts.
  const before = rssOf(`--state ${join(base, 'ctl', 'state')}`);
  let t = Date.now();
  await Promise.all(
    Array.from(
      { length: SLEEPERS },
      (_, i) =>
        new Promise((r) =>
          spawn(ctl, [...ctlArgs, '--no-autostart', 'run', '-d', '--network', 'none', '--name', `s${i}`, 'busybox', 'sleep', '600'], {
            env: plain,
            stdio: 'ignore',
          }).on('exit', r),
        ),
    ),
  );
  const ctlParallel = Date.now() - t;
  const ctlShims = rssOf(`ctl-shim.*${base}`);
  const after = rssOf(`--state ${join(base, 'ctl', 'state')}`);
  const ctdBefore = rssOf(`containerd --config ${join(base, 'containerd')}`);
  t = Date.now();
  await Promise.all(
    Array.from(
      { length: SLEEPERS },
      (_, i) =>
        new Promise((r) =>
          spawn('ctr', ['-a', address, '-n', 'bench', 'run', '-d', 'docker.io/library/busybox:latest', `s${i}`, 'sleep', '600'], {
            stdio: 'ignore',
          }).on('exit', r),
        ),
    ),
  );
  const ctrParallel = Date.now() - t;
  const ctrShims = rssOf(`containerd-shim-runc-v2 -namespace bench`);
  const ctdAfter = rssOf(`containerd --config ${join(base, 'containerd')}`);
  let podParallel;
  let conmons = 0;
  if (pod) {
    t = Date.now();
    await Promise.all(
      Array.from(
        { length: SLEEPERS },
        (_, i) =>
          new Promise((r) =>
            spawn('podman', [...pod.args, 'run', '-d', '--network', 'none', '--name', `s${i}`, 'busybox', 'sleep', '600'], {
              env: pod.env,
              stdio: 'ignore',
            }).on('exit', r),
          ),
      ),
    );
    podParallel = Date.now() - t;
    conmons = rssOf(`conmon .*${join(base, 'podman')}`);
  }

  const ms = (x) => `${(x * 1000).toFixed(1)} ms`;
  const line = (r) =>
    `ctr ${ms(r.c)}, ctl ${ms(r.o)}${r.p ? `, podman ${ms(r.p)}` : ''}: ctl/ctr = ${(r.o / r.c).toFixed(2)}x${r.p ? `, ctl/podman = ${(r.o / r.p).toFixed(2)}x` : ''}`;
  console.log(`\nrun --rm busybox /bin/true, medians of ${RUNS} (state on tmpfs):`);
  console.log(`  without NODE_EXTRA_CA_CERTS: ${line(a)} (target ctl/ctr <= 1.00x)`);
  if (b) console.log(`  with NODE_EXTRA_CA_CERTS:    ${line(b)}`);
  console.log(
    `${SLEEPERS} sleeping containers started in parallel: ctl ${ctlParallel} ms, containerd ${ctrParallel} ms (${(ctlParallel / ctrParallel).toFixed(2)}x, target <= 0.70x)${pod ? `, podman ${podParallel} ms` : ''}`,
  );
  console.log(
    `memory added per running container: ctl ${((ctlShims + after - before) / SLEEPERS / 1024).toFixed(2)} MiB (shims ${(ctlShims / SLEEPERS / 1024).toFixed(2)} + daemon growth ${((after - before) / SLEEPERS / 1024).toFixed(2)}), containerd ${((ctrShims + ctdAfter - ctdBefore) / SLEEPERS / 1024).toFixed(2)} MiB${pod ? `, podman ${(conmons / SLEEPERS / 1024).toFixed(2)} MiB (conmons)` : ''} (target ctl <= 1 MiB)`,
  );
  // Removal in parallel: `ctl rm -f`, and what ctr needs for the same (its task killed and
  // deleted, then the container with its snapshot).
  const exit = (file, args, env) => new Promise((r) => spawn(file, args, { env, stdio: 'ignore' }).on('exit', r));
  t = Date.now();
  await Promise.all(Array.from({ length: SLEEPERS }, (_, i) => exit(ctl, [...ctlArgs, '--no-autostart', 'rm', '-f', `s${i}`], plain)));
  const ctlRemove = Date.now() - t;
  t = Date.now();
  await Promise.all(
    Array.from({ length: SLEEPERS }, async (_, i) => {
      await exit('ctr', ['-a', address, '-n', 'bench', 'tasks', 'delete', '--force', `s${i}`]);
      await exit('ctr', ['-a', address, '-n', 'bench', 'containers', 'delete', `s${i}`]);
    }),
  );
  const ctrRemove = Date.now() - t;
  console.log(
    `${SLEEPERS} containers removed in parallel: ctl ${ctlRemove} ms, containerd ${ctrRemove} ms (${(ctlRemove / ctrRemove).toFixed(2)}x, target <= 0.70x)`,
  );
} finally {
  await pod?.close();
  for (const child of children.reverse()) {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null || child.signalCode ? r() : child.once('exit', r)));
  }
  execFileSync('sh', [
    '-c',
    `grep ' ${base}' /proc/mounts | cut -d' ' -f2 | sort -r | xargs -r umount -l; umount -l ${q(base)} 2>/dev/null || true`,
  ]);
  rmSync(base, { recursive: true, force: true });
  for (const c of [
    'blkio',
    'cpu',
    'cpuacct',
    'cpuset',
    'devices',
    'freezer',
    'memory',
    'pids',
    'unified',
    'hugetlb',
    'net_cls',
    'perf_event',
    'net_prio',
    'rdma',
    'systemd',
    'misc',
  ]) {
    for (const d of [`/sys/fs/cgroup/${c}/ctl/default`, `/sys/fs/cgroup/${c}/ctl`, `/sys/fs/cgroup/${c}/bench`]) {
      try {
        execFileSync('rmdir', [d], { stdio: 'ignore' });
      } catch {}
    }
  }
}
