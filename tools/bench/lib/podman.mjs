// Debian's podman (with runc) on private paths under dir, for benchmarks that run it beside
// ours; undefined when podman is not installed (`apt-get install podman`: the bench does not
// install it, CI does not need it).
//
// This machine's quirk: without CAP_SYS_RESOURCE no rlimit can rise above its hard limit, and
// podman's default ulimits (nofile 1048576) make runc fail, so its containers.conf sets none.
// It runs with runc (crun refuses the hybrid cgroup layout here) and cgroupfs. With `{ cni: true }`
// its networks are CNI's (Debian's podman has no netavark), configs in a directory of its own;
// callers run it inside a netns of theirs, where its bridge (cni-podman0) and iptables rules go.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function podman(dir, { cni = false } = {}) {
  try {
    execFileSync('podman', ['--version'], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, 'containers.conf');
  const network = cni
    ? `[network]\nnetwork_backend = "cni"\ncni_plugin_dirs = ["/usr/lib/cni"]\nnetwork_config_dir = "${join(dir, 'cni')}"\n`
    : '';
  writeFileSync(conf, `[containers]\ndefault_ulimits = []\n${network}`);
  const args = [
    '--root',
    join(dir, 'root'),
    '--runroot',
    join(dir, 'run'),
    '--runtime',
    'runc',
    '--cgroup-manager',
    'cgroupfs',
    '--events-backend',
    'file',
    '--tmpdir',
    join(dir, 'tmp'),
  ];
  const env = { ...process.env, CONTAINERS_CONF: conf };
  return {
    args,
    env,
    /** the command line as one shell string (for hyperfine), CONTAINERS_CONF included */
    shell: `env CONTAINERS_CONF='${conf}' podman ${args.map((a) => `'${a}'`).join(' ')}`,
    run: (more, opts = {}) => execFileSync('podman', [...args, ...more], { env, stdio: 'pipe', ...opts }),
    /** stops and removes everything it made (containers, storage mounts) */
    reset: () => {
      try {
        execFileSync('podman', [...args, 'rm', '-af', '-t', '0'], { env, stdio: 'ignore' });
        execFileSync('podman', [...args, 'system', 'reset', '-f'], { env, stdio: 'ignore' });
      } catch {}
    },
  };
}
