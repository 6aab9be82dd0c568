// Debian's containerd on private paths under dir (its own root, state and socket; no CRI), for
// benchmarks that run it side by side with ours. Returns the socket address, the process and its
// log file (logLevel 'debug' puts a timestamped line there for each step of a run).
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function startContainerd(dir, { logLevel = 'error' } = {}) {
  mkdirSync(dir, { recursive: true });
  const address = join(dir, 'containerd.sock');
  writeFileSync(
    join(dir, 'config.toml'),
    `version = 2
root = "${dir}/root"
state = "${dir}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "${address}"
[ttrpc]
  address = "${address}.ttrpc"
`,
  );
  // Its shims log at info whatever the daemon's level: into a file, not over the figures.
  const logFile = join(dir, 'containerd.log');
  const log = openSync(logFile, 'a');
  const child = spawn('containerd', ['--config', join(dir, 'config.toml'), '--log-level', logLevel], { stdio: ['ignore', log, log] });
  return { address, child, logFile };
}
