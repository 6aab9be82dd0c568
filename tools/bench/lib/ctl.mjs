// A private ctl instance for benchmarks: `ctl daemon` with its root and state under dir (callers
// put dir on a tmpfs), busybox imported, and a stop that leaves nothing (daemon, its cgroups).
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const ctlBinary = join(repo, 'node_modules', '.bin', 'ctl');
const q = (s) => `'${s}'`;

/**
 * The daemon's environment as ctl's autostart gives it (packages/cli/src/daemon-process.ts): its
 * Node flags through NODE_OPTIONS, so that another build's ctl (a script, say) gets them too.
 */
export function daemonProcessEnv(env) {
  const { DAEMON_NODE_FLAGS, daemonEnv } = createRequire(join(repo, 'packages', 'cli', 'package.json'))('./dist/src/daemon-process.js');
  return { ...daemonEnv(env), NODE_OPTIONS: [env.NODE_OPTIONS, ...DAEMON_NODE_FLAGS].filter(Boolean).join(' ') };
}

export async function waitFor(what, fn) {
  for (let i = 0; i < 400; i++) {
    try {
      if (fn()) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** daemonExtra: more environment for the daemon alone (a preloaded probe, say), not for its clients. */
export async function startCtl(dir, env, binary = ctlBinary, daemonExtra = {}) {
  const root = join(dir, 'root');
  const args = ['--root', root, '--state', join(dir, 'state')];
  mkdirSync(join(dir, 'state'), { recursive: true });
  const daemon = spawn(binary, [...args, 'daemon', '--log-level', 'warn'], {
    stdio: 'inherit',
    env: { ...daemonProcessEnv({ ...env, ...daemonExtra }), CTL_SNAPSHOTTER_DRIVERS: 'overlayfs' },
  });
  const ctl = (more, opts = {}) => execFileSync(binary, [...args, '--no-autostart', ...more], { env, stdio: 'pipe', ...opts });
  await waitFor('ctl daemon', () => ctl(['version']));
  const image = join(dir, 'busybox.tar');
  execFileSync('bash', [join(repo, 'tools', 'busybox-image.sh'), image]);
  ctl(['image', 'import', image]);
  return {
    ctl,
    daemonPid: daemon.pid,
    /** the daemon's pid and its helpers' (ctl-launch) */
    pids: () => [daemon.pid, ...children(daemon.pid)],
    /** the command line before the command's own arguments */
    argv: [binary, ...args, '--no-autostart'],
    async stop() {
      daemon.kill('SIGTERM');
      await new Promise((r) => (daemon.exitCode !== null || daemon.signalCode ? r() : daemon.once('exit', r)));
      // the instance's cgroup parent (proto's cgroupParent for this root), left empty by its containers
      const parent = `ctl-${createHash('sha256').update(root).digest('hex').slice(0, 12)}`;
      for (const c of readdirSync('/sys/fs/cgroup'))
        for (const d of [`/sys/fs/cgroup/${c}/${parent}/default`, `/sys/fs/cgroup/${c}/${parent}`])
          try {
            execFileSync('rmdir', [d], { stdio: 'ignore' });
          } catch {}
    },
  };
}

/** The pids pgrep(1) finds with these arguments (none: an empty list). */
export function pgrep(args) {
  try {
    return execFileSync('pgrep', args, { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

const children = (pid) => pgrep(['-P', String(pid)]);

/** A tmpfs at a new directory under /tmp; the returned function unmounts what is under it, and it. */
export function tmpfsBase(prefix) {
  const base = execFileSync('mktemp', ['-d', `/tmp/${prefix}XXXXXX`], { encoding: 'utf8' }).trim();
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2g', 'tmpfs', base]);
  return {
    base,
    remove() {
      execFileSync('sh', [
        '-c',
        `grep ' ${base}' /proc/mounts | cut -d' ' -f2 | sort -r | xargs -r umount -l; umount -l ${q(base)} 2>/dev/null; rmdir ${q(base)}`,
      ]);
    },
  };
}
