// Debian's containerd on private paths under dir (its own root, state and socket; no CRI), for
// benchmarks that run it side by side with ours. Returns the socket address and the process.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function startContainerd(dir) {
  mkdirSync(dir, { recursive: true });
  const address = join(dir, 'containerd.sock');
  writeFileSync(join(dir, 'config.toml'), `version = 2
root = "${dir}/root"
state = "${dir}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "${address}"
[ttrpc]
  address = "${address}.ttrpc"
`);
  const child = spawn('containerd', ['--config', join(dir, 'config.toml'), '--log-level', 'error'], { stdio: 'inherit' });
  return { address, child };
}
