// Debian's containerd on private paths under dir (its own root, state and socket; no CRI), for
// benchmarks that run it side by side with ours. Returns the socket address and the process.
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function startContainerd(dir) {
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
  const log = openSync(join(dir, 'containerd.log'), 'a');
  const child = spawn('containerd', ['--config', join(dir, 'config.toml'), '--log-level', 'error'], { stdio: ['ignore', log, log] });
  return { address, child };
}
