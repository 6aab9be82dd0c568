#!/usr/bin/env node
// Leak check (issue 11): N cycles of `ctl run --rm busybox true` and of `run -d` / `exec` /
// `rm -f` against one daemon of a private instance (--root/--state under one tmpfs), printing
// every 100 cycles what the engine holds: mounts under the instance, cgroup directories on the
// instance's cgroup parent, shims, files under the state dir, the daemon's open fds and its
// resident memory.
// Everything but RSS must come back to where it started; RSS must be flat after warm-up.
//   node tools/leaks.mjs [CYCLES]      (default 1000; LEAKS_MODES=rm,exec to pick)
// Exits 1 when a count other than RSS ended above its start (taken after a few warm-up cycles).
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
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
delete env.NODE_EXTRA_CA_CERTS;
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

function sample(daemonPid) {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(`${base}/`)).length;
  const status = readFileSync(`/proc/${daemonPid}/status`, 'utf8');
  return {
    mounts,
    cgroups: cgroupDirs(),
    shims: pgrepCount(`ctl-shim.*${state}`),
    stateFiles: countFiles(state),
    fds: readdirSync(`/proc/${daemonPid}/fd`).length,
    rssMiB: Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 102.4) / 10,
  };
}

const daemon = spawn(process.execPath, [join(repo, 'packages', 'cli', 'bin', 'ctl.js'), '--root', root, '--state', state, 'daemon'], {
  env,
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
  console.log(`node -e 0: ${timeNode()} ms; ${CYCLES} cycles per mode after ${WARMUP} to warm up; state on tmpfs`);
  for (const mode of MODES) {
    // The first runs make directories and connections that stay (task and runtime roots, the
    // snapshotter's wire): the baseline is taken after them.
    for (let i = 1; i <= WARMUP; i++) cycle[mode](-i);
    const start = sample(daemon.pid);
    console.log(`\n${mode === 'rm' ? 'run --rm busybox true' : 'run -d / exec / rm -f'}`);
    console.log(['cycles', ...Object.keys(start)].map((h) => h.padStart(12)).join(''));
    const line = (n, s) => console.log([n, ...Object.values(s)].map((v) => String(v).padStart(12)).join(''));
    line(0, start);
    let last = start;
    for (let i = 1; i <= CYCLES; i++) {
      cycle[mode](i);
      if (i % 100 === 0 || i === CYCLES) line(i, (last = sample(daemon.pid)));
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
