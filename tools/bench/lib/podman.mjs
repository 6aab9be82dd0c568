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
import { existsSync, mkdirSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// With cgroupfs, podman puts conmon and its containers under libpod_parent in every hierarchy
// and never removes it; the bench removes what was not there before it started.
const libpodCgroups = () =>
  readdirSync('/sys/fs/cgroup')
    .flatMap((c) => [`/sys/fs/cgroup/${c}/libpod_parent/conmon`, `/sys/fs/cgroup/${c}/libpod_parent`])
    .filter((d) => existsSync(d));

function removeCgroups(keep) {
  // conmon of the last --rm container may still be in its cgroup for a moment
  for (let attempt = 0; attempt < 50; attempt++) {
    const left = libpodCgroups().filter((d) => !keep.has(d));
    for (const d of left) {
      try {
        rmdirSync(d);
      } catch {}
    }
    if (libpodCgroups().every((d) => keep.has(d))) return;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  }
}

export function podman(dir, { cni = false } = {}) {
  try {
    execFileSync('podman', ['--version'], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  const before = new Set(libpodCgroups());
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
    /** stops and removes everything it made (containers, storage mounts, libpod_parent cgroups) */
    reset: () => {
      try {
        execFileSync('podman', [...args, 'rm', '-af', '-t', '0'], { env, stdio: 'ignore' });
        execFileSync('podman', [...args, 'system', 'reset', '-f'], { env, stdio: 'ignore' });
      } catch {}
      removeCgroups(before);
    },
    /** the libpod_parent cgroups it made, again (once its conmons are gone) */
    removeCgroups: () => removeCgroups(before),
    /**
     * reset, then the end of every `podman container cleanup` that conmon runs as a container dies
     * (they would mount podman's storage again under a dir already unmounted), then the cgroups
     */
    async close() {
      this.reset();
      for (let i = 0; i < 200; i++) {
        try {
          execFileSync('pgrep', ['-f', '--', `(podman|conmon) .*${dir}`], { stdio: 'ignore' });
        } catch {
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      removeCgroups(before);
    },
  };
}
