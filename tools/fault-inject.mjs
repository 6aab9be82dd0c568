#!/usr/bin/env node
// Fault injection (issue 11): SIGKILL the daemon at a random moment of an operation (import,
// pull, run, rm, commit, gc), start it again, and ask `ctl system check`; a container started
// before the first trial must stay controllable throughout, and no helper (ctl-apply, ctl-diff)
// may outlive the daemon that started it. One private instance on a tmpfs, its own registry
// (Debian's docker-registry on 127.0.0.1) for pulls.
// With FAULT_SPLIT=1 the three services run as separate processes (containerd-lite,
// ctl-snapshotter, ctl-netd, as `ctl daemon` hosts them but apart), and each trial SIGKILLs one
// of them (in turn, so every operation meets every service), starts it again, then checks.
// With FAULT_NET=1 the whole run happens in a network namespace of its own, containers join the
// default bridge, and the operations include publishing a port and network connect; at the end,
// once every container is gone, no veth may be left.
//   node tools/fault-inject.mjs [TRIALS]     (default 100; FAULT_OPS=import,pull,... to pick)
// Prints one line per trial and a summary; exits 1 when any trial left a problem.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const TRIALS = Number(process.argv[2] ?? 100);
const SPLIT = process.env.FAULT_SPLIT === '1';
const NET = process.env.FAULT_NET === '1';
if (NET && process.env.FAULT_NET_INNER !== '1') {
  // Everything (daemon, registry, containers' bridge and veths) in a netns that goes with us.
  const inner = spawnSync(
    'unshare',
    ['--net', '--', 'sh', '-c', 'ip link set lo up && exec "$0" "$@"', process.execPath, ...process.argv.slice(1)],
    {
      stdio: 'inherit',
      env: { ...process.env, FAULT_NET_INNER: '1' },
    },
  );
  process.exit(inner.status ?? 1);
}
const defaultOps = NET ? 'run,rm,publish,connect' : SPLIT ? 'import,run,rm,commit,gc' : 'import,pull,run,rm,commit,gc';
const OPS = (process.env.FAULT_OPS ?? defaultOps).split(',');
/** What a trial kills: the daemon, or each service of a split engine in turn (its binary). */
const SERVICES = SPLIT ? { 'containerd-lite': 'containerd-lite', snapshotter: 'ctl-snapshotter', netd: 'ctl-netd' } : { daemon: undefined };
const base = mkdtempSync('/tmp/ctl-faults-');
execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3g', 'tmpfs', base]);
const root = join(base, 'root');
const state = join(base, 'state');
mkdirSync(state, { recursive: true });
// No default bridge unless in a netns of our own: the host's interfaces and firewall are not ours to change.
const env = { ...process.env, CTL_NO_AUTOSTART: '1', CTL_DEFAULT_NETWORK: NET ? 'bridge' : 'none' };
const ctlArgs = (args) => [join(repo, 'packages', 'cli', 'bin', 'ctl.js'), '--root', root, '--state', state, ...args];
const ctl = (...args) => spawnSync(process.execPath, ctlArgs(args), { env, encoding: 'utf8' });
const must = (...args) => {
  const r = ctl(...args);
  if (r.status !== 0) throw new Error(`ctl ${args.join(' ')}: exit ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** The running service processes by name (SERVICES). */
const running = new Map();
let registry;

/** Connects to a unix socket: does a service listen there? */
const listens = (socket) =>
  new Promise((resolve) => {
    const c = connect(socket, () => (c.destroy(), resolve(true)));
    c.once('error', () => resolve(false));
  });

async function startService(name) {
  const binary = SERVICES[name];
  const args = binary ? [join(repo, 'node_modules', '.bin', binary), '--root', root, '--state', state] : ctlArgs(['daemon']);
  running.set(name, spawn(process.execPath, args, { env, stdio: 'ignore' }));
  const ready = binary ? () => listens(join(state, `${name}.sock`)) : () => ctl('version').status === 0;
  for (let i = 0; i < 400; i++) {
    if (await ready()) return;
    await sleep(50);
  }
  throw new Error(`${name} did not answer`);
}

async function killService(name) {
  const child = running.get(name);
  const exited = new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
  child.kill('SIGKILL');
  await exited;
}

const startAll = async () => {
  for (const name of Object.keys(SERVICES)) await startService(name);
};
const killAll = async () => {
  for (const name of Object.keys(SERVICES)) if (running.get(name)?.exitCode === null) await killService(name);
};

/** Helpers of this instance still running (they must die with their daemon). */
function orphanHelpers() {
  try {
    return execFileSync('pgrep', ['-af', `ctl-(apply|diff).*${base}`], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

async function freePort() {
  const server = createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

async function startRegistry() {
  const host = `127.0.0.1:${await freePort()}`;
  const config = join(base, 'registry.yml');
  const secret = createHash('sha256').update(base).digest('hex');
  const yml = ['version: 0.1', 'log:', '  level: error', 'storage:', '  filesystem:', `    rootdirectory: ${base}/registry`];
  writeFileSync(config, [...yml, 'http:', `  addr: ${host}`, `  secret: ${secret}`, ''].join('\n'));
  registry = spawn('/usr/bin/docker-registry', ['serve', config], { stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`http://${host}/v2/`)).ok) return host;
    } catch {
      // not yet
    }
    await sleep(50);
  }
  throw new Error('docker-registry did not answer');
}

/**
 * The operations, each given a fresh name per trial: `prepare` runs before, `args` is what the
 * daemon dies during (after up to `window` ms), `after` removes what the trial made.
 */
function operations(host) {
  const fat = 'fat:1';
  const remote = `${host}/fat:1`;
  const dropFat = () => {
    ctl('image', 'rm', '--sync', fat);
    ctl('image', 'rm', '--sync', remote);
  };
  return {
    import: { prepare: dropFat, args: () => ['image', 'import', join(base, 'fat.tar')], window: 1500 },
    pull: { prepare: dropFat, args: () => ['pull', remote], window: 1500 },
    run: {
      prepare: () => undefined,
      args: (n) => ['run', '--name', `r${n}`, 'busybox', 'sh', '-c', 'echo hi'],
      after: (n) => ctl('rm', '-f', `r${n}`),
      window: 600,
    },
    rm: {
      prepare: (n) => must('run', '-d', '--name', `x${n}`, 'busybox', 'sleep', '600'),
      args: (n) => ['rm', '-f', `x${n}`],
      after: (n) => ctl('rm', '-f', `x${n}`),
      window: 400,
    },
    commit: {
      prepare: (n) => must('run', '-d', '--name', `c${n}`, 'busybox', 'sh', '-c', 'head -c 20000000 /dev/urandom > /big; sleep 600'),
      args: (n) => ['commit', `c${n}`, `committed:${n}`],
      after: (n) => (ctl('rm', '-f', `c${n}`), ctl('image', 'rm', `committed:${n}`)),
      window: 1500,
    },
    gc: { prepare: () => ctl('image', 'rm', fat), args: () => ['gc'], window: 400 },
    publish: {
      prepare: () => undefined,
      args: (n) => ['run', '-d', '--name', `p${n}`, '-p', `${20000 + n}:80`, 'busybox', 'httpd', '-f', '-p', '80'],
      after: (n) => ctl('rm', '-f', `p${n}`),
      window: 600,
    },
    connect: {
      prepare: (n) => must('run', '-d', '--name', `k${n}`, 'busybox', 'sleep', '600'),
      args: (n) => ['network', 'connect', 'side', `k${n}`],
      after: (n) => ctl('rm', '-f', `k${n}`),
      window: 300,
    },
  };
}

let failures = 0;
try {
  const image = join(base, 'busybox.tar');
  execFileSync('bash', [join(repo, 'tools', 'busybox-image.sh'), image]);
  await startAll();
  must('image', 'import', image);
  // A fat image (a 40 MB random layer) for imports and pulls with a window worth aiming at.
  must('run', '--name', 'fatmaker', 'busybox', 'sh', '-c', 'head -c 40000000 /dev/urandom > /big');
  must('commit', 'fatmaker', 'fat:1');
  must('rm', 'fatmaker');
  must('image', 'export', '-o', join(base, 'fat.tar'), 'fat:1');
  const host = await startRegistry();
  must('image', 'tag', 'fat:1', `${host}/fat:1`);
  must('push', `${host}/fat:1`);
  must('run', '-d', '--name', 'keeper', 'busybox', 'sleep', '100000');
  if (NET) must('network', 'create', '--subnet', '10.231.0.0/24', 'side');
  const ops = operations(host);
  const victims = Object.keys(SERVICES);
  console.log(`${TRIALS} trials over ${OPS.join(', ')}, killing ${victims.join(', ')}; state on tmpfs`);
  const tally = new Map();
  for (let n = 1; n <= TRIALS; n++) {
    const name = OPS[n % OPS.length];
    const victim = victims[Math.floor((n - 1) / OPS.length) % victims.length];
    const op = ops[name];
    op.prepare(n);
    const client = spawn(process.execPath, ctlArgs(op.args(n)), { env, stdio: 'ignore' });
    const clientDone = new Promise((r) => (client.exitCode !== null ? r() : client.once('exit', r)));
    const delay = Math.floor(Math.random() * op.window);
    await sleep(delay);
    await killService(victim);
    // A client of a service that lost its snapshotter or netd may wait for it to come back.
    if (victim === 'daemon' || victim === 'containerd-lite') await clientDone;
    await sleep(100);
    // Helpers (ctl-apply, ctl-diff) are containerd-lite's: they die with it.
    const orphans = victim === 'daemon' || victim === 'containerd-lite' ? orphanHelpers() : '';
    await startService(victim);
    await Promise.race([clientDone, sleep(120_000).then(() => client.kill('SIGKILL'))]);
    await clientDone;
    const check = ctl('system', 'check');
    const keeper = ctl('exec', 'keeper', 'true').status === 0;
    const ok = check.status === 0 && keeper && !orphans;
    if (!ok) failures++;
    const why = [
      check.status === 0 ? '' : `check: ${check.stdout.trim().replace(/\n/g, '; ')}`,
      keeper ? '' : 'keeper not controllable',
      orphans ? `helpers outlived the daemon: ${orphans}` : '',
    ].filter(Boolean);
    op.after?.(n);
    const key = `${victim} during ${name}`;
    const [good, all] = tally.get(key) ?? [0, 0];
    tally.set(key, [good + (ok ? 1 : 0), all + 1]);
    const what = `${name.padEnd(7)} ${victim} killed after ${String(delay).padStart(4)} ms`;
    console.log(`${String(n).padStart(3)} ${what}: ${ok ? 'ok' : why.join(' | ')}`);
  }
  must('rm', '-f', 'keeper');
  if (NET) {
    must('network', 'rm', 'side');
    const veths = execFileSync('ip', ['-o', 'link', 'show', 'type', 'veth'], { encoding: 'utf8' }).trim();
    if (veths) {
      failures++;
      console.log(`veths left after every container went:\n${veths}`);
    } else console.log('no veth left once every container went');
  }
  console.log('');
  for (const [key, [good, all]] of [...tally].sort()) console.log(`${key.padEnd(32)} ${good} of ${all} consistent`);
  console.log(`${TRIALS - failures} of ${TRIALS} trials left a consistent engine`);
} finally {
  if ([...running.values()].some((p) => p.exitCode === null)) {
    for (const id of ctl('ps', '-aq').stdout.split('\n').filter(Boolean)) ctl('rm', '-f', id);
    await killAll();
  }
  registry?.kill('SIGTERM');
  spawnSync('umount', ['--recursive', '--lazy', base]);
  rmSync(base, { recursive: true, force: true });
}
process.exit(failures ? 1 : 0);
