// For benchmarks that touch networking: the bench runs inside a network namespace of its own, so
// the host's interfaces, routes and firewall are never touched. `inOwnNetns(self)` answers true in
// the re-executed child (run the bench there); in the parent it re-execs `self` under
// `unshare --net` with loopback up, waits for it, and answers false (the parent then exits).
import { spawnSync } from 'node:child_process';

export function inOwnNetns(self) {
  if (process.env.CTL_BENCH_OWN_NETNS) return true;
  const r = spawnSync('unshare', ['--net', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh', process.execPath, self], {
    stdio: 'inherit',
    env: { ...process.env, CTL_BENCH_OWN_NETNS: '1' },
  });
  process.exitCode = r.status ?? 1;
  return false;
}

/** The environment without NODE_EXTRA_CA_CERTS (users' hosts), and with it (this machine's default). */
export function certEnvs() {
  const plain = { ...process.env };
  delete plain.NODE_EXTRA_CA_CERTS;
  const withCerts = { ...process.env, NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS || '/etc/ssl/certs/ca-certificates.crt' };
  return [
    ['without NODE_EXTRA_CA_CERTS', plain],
    ['with NODE_EXTRA_CA_CERTS', withCerts],
  ];
}
