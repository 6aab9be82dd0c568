// A private dockerd for benchmarks that run `docker` beside ours: Debian's dockerd with every path
// of its own under dir (data-root, exec-root, socket, pidfile, its trust key, the containerd it
// starts and manages itself) and nothing on the host's network (no bridge, no iptables, no
// ip_forward). The system's dockerd, /var/run/docker.sock and /var/lib/docker are never touched.
//
// Storage: overlay2 where the kernel takes it on dir's filesystem, else vfs (a full copy per
// layer: slow, so say which). Containers' cgroups go under one parent of this instance's own, an
// absolute path: a relative one would land under dockerd's own cgroup in some hierarchies (the
// memory one here) and BuildKit's executor puts it at the root anyway.
//
// What it cannot keep private: dockerd makes /run/docker/plugins whatever its exec-root (removed
// again when it was not there before), and containerd's shims put their sockets in
// /run/containerd/s (each shim removes its own as it exits).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The pids whose command line names dir: dockerd, its containerd, their shims. */
function processesUnder(dir) {
  const pids = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(dir)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

function mountsUnder(dir) {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1])
    .filter((point) => point?.startsWith(`${dir}/`))
    .sort()
    .reverse();
}

/** rmdir of a cgroup tree, leaves first (a cgroup directory cannot be removed while it has children). */
function removeCgroupTree(path) {
  if (!existsSync(path)) return true;
  for (const entry of readdirSync(path, { withFileTypes: true })) if (entry.isDirectory()) removeCgroupTree(join(path, entry.name));
  try {
    rmdirSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The last lines of dockerd's log that say why it did not come up. */
function whyNot(logFile) {
  const lines = readFileSync(logFile, 'utf8').trim().split('\n');
  const bad = lines.filter((l) => /^failed|level=(error|fatal)/.test(l));
  return (bad.length ? bad : lines).slice(-3).join('\n');
}

/**
 * A CLI's environment for this instance: its socket, and a config directory of its own so the
 * CLI neither reads nor writes ~/.docker.
 */
function cliEnv(dir, host) {
  const config = join(dir, 'cli-config');
  mkdirSync(config, { recursive: true });
  return { ...process.env, DOCKER_HOST: `unix://${host}`, DOCKER_CONFIG: config };
}

/**
 * Starts dockerd on private paths under dir; throws with dockerd's own words when no storage
 * driver brings it up (what it started is stopped and removed first).
 */
export async function startDockerd(dir, { storageDrivers = ['overlay2', 'vfs'] } = {}) {
  mkdirSync(dir, { recursive: true });
  const runDockerExisted = existsSync('/run/docker');
  const cgroupParent = `ctl-bench-docker-${createHash('sha256').update(dir).digest('hex').slice(0, 12)}`;
  const host = join(dir, 'docker.sock');
  // Without a key path of its own dockerd writes its trust key to /etc/docker/key.json; the key
  // is settable only in the config file (the flag is gone, the file key stays).
  const configFile = join(dir, 'daemon.json');
  writeFileSync(configFile, JSON.stringify({ 'deprecated-key-path': join(dir, 'key.json') }));
  const env = cliEnv(dir, host);
  const failures = [];
  let daemon;

  async function stop() {
    if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
      // dockerd stops its containers and its managed containerd on SIGTERM
      daemon.kill('SIGTERM');
      for (let i = 0; i < 300 && daemon.exitCode === null && daemon.signalCode === null; i++) await sleep(100);
      if (daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGKILL');
    }
    // whatever outlived it (a containerd, a shim): by pid, each one found by this instance's paths
    for (let attempt = 0; attempt < 50; attempt++) {
      const left = processesUnder(dir);
      if (!left.length) break;
      for (const pid of left)
        try {
          process.kill(pid, attempt < 30 ? 'SIGTERM' : 'SIGKILL');
        } catch {
          // exited between the scan and the signal
        }
      await sleep(100);
    }
    for (const point of mountsUnder(dir)) if (spawnSync('umount', [point]).status !== 0) spawnSync('umount', ['-l', point]);
    for (let attempt = 0; attempt < 50; attempt++) {
      const all = readdirSync('/sys/fs/cgroup').map((h) => removeCgroupTree(join('/sys/fs/cgroup', h, cgroupParent)));
      if (all.every(Boolean)) break;
      await sleep(100);
    }
    if (!runDockerExisted)
      for (const d of ['/run/docker/plugins', '/run/docker'])
        try {
          rmdirSync(d);
        } catch {
          // another dockerd's plugins are there now: theirs to remove
        }
  }

  for (const driver of storageDrivers) {
    const logFile = join(dir, `dockerd-${driver}.log`);
    const log = openSync(logFile, 'a');
    daemon = spawn(
      'dockerd',
      [
        '--config-file',
        configFile,
        '--data-root',
        join(dir, `data-${driver}`),
        '--exec-root',
        join(dir, 'exec'),
        '--pidfile',
        join(dir, 'docker.pid'),
        '-H',
        `unix://${host}`,
        '--storage-driver',
        driver,
        '--cgroup-parent',
        `/${cgroupParent}`,
        '--bridge=none',
        '--iptables=false',
        '--ip6tables=false',
        '--ip-forward=false',
        '--ip-masq=false',
      ],
      { stdio: ['ignore', log, log] },
    );
    let up = false;
    for (let i = 0; i < 300 && daemon.exitCode === null && daemon.signalCode === null && !up; i++) {
      await sleep(100);
      up = spawnSync('docker', ['version', '--format', '{{.Server.Version}}'], { env, stdio: 'ignore' }).status === 0;
    }
    if (up) {
      const version = execFileSync('docker', ['version', '--format', '{{.Server.Version}} (API {{.Server.APIVersion}})'], {
        env,
        encoding: 'utf8',
      }).trim();
      return { host, env, storageDriver: driver, version, cgroupParent, stop };
    }
    failures.push(`${driver}: ${whyNot(logFile)}`);
    await stop();
    daemon = undefined;
  }
  await stop();
  throw new Error(`dockerd did not start:\n${failures.join('\n')}`);
}

/**
 * The OCI archive as `docker load` before 25.0 also reads it: the same tar with a manifest.json
 * (docker's own archive index) naming its config and layers, tagged name.
 */
export function dockerArchive(ociArchive, out, name) {
  const read = (path) => JSON.parse(execFileSync('tar', ['-xOf', ociArchive, path], { encoding: 'utf8' }));
  const blob = (digest) => `blobs/${digest.replace(':', '/')}`;
  const [entry] = read('index.json').manifests;
  const manifest = read(blob(entry.digest));
  const dir = `${out}.d`;
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'manifest.json'),
    JSON.stringify([{ Config: blob(manifest.config.digest), RepoTags: [name], Layers: manifest.layers.map((l) => blob(l.digest)) }]),
  );
  execFileSync('cp', [ociArchive, out]);
  execFileSync('tar', ['-rf', out, '-C', dir, 'manifest.json']);
  execFileSync('rm', ['-r', dir]);
  return out;
}

/**
 * How `docker build` can use BuildKit here: with the CLI on PATH if it has buildx, else with a CLI
 * from before 23.0, which has BuildKit built in (Debian's /usr/bin/docker beside its dockerd);
 * undefined when neither. The legacy builder (DOCKER_BUILDKIT=0) works with any CLI.
 */
export function buildkitCli(env) {
  if (spawnSync('docker', ['buildx', 'version'], { env, stdio: 'ignore' }).status === 0) return 'docker';
  for (const cli of ['docker', '/usr/bin/docker']) {
    const r = spawnSync(cli, ['version', '--format', '{{.Client.Version}}'], { env, encoding: 'utf8' });
    if (r.status === 0 && Number(r.stdout.split('.')[0]) < 23) return cli;
  }
  return undefined;
}
