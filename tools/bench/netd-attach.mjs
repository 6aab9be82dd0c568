#!/usr/bin/env node
// Attach + detach of one endpoint with one published port: through netd (ctl.netd.v1 over its
// socket: bridge, IPAM, veth, nftables DNAT) against Debian's CNI plugins invoked directly as a
// runtime would (/usr/lib/cni: loopback, bridge with host-local IPAM and ipMasq, portmap for the
// port; ADD in list order, DEL in reverse), for the same kind of netns, side by side in one run:
// medians and the ratio (target netd/CNI <= 0.5x), with `node -e 0` beside.
// Everything happens inside a network namespace of the bench's own (the script re-execs itself
// in it), so the host's interfaces, routes and firewall are never touched.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { median } from './lib/stats.mjs';

const self = fileURLToPath(import.meta.url);
const repo = join(dirname(self), '..', '..');
const RUNS = Number(process.env.BENCH_RUNS ?? 30);
const CNI = '/usr/lib/cni';

const ms = (x) => `${x.toFixed(2)} ms`;

async function timed(runs, fn) {
  const out = [];
  for (let i = 0; i < runs + 3; i++) {
    const t = process.hrtime.bigint();
    await fn(i);
    if (i >= 3) out.push(Number(process.hrtime.bigint() - t) / 1e6); // 3 warm-up rounds
  }
  return median(out);
}

function plugin(type, command, config, env) {
  const r = spawnSync(join(CNI, type), [], {
    input: JSON.stringify(config),
    encoding: 'utf8',
    env: { ...process.env, CNI_COMMAND: command, CNI_PATH: CNI, ...env },
  });
  if (r.status !== 0) throw new Error(`${type} ${command}: ${r.stdout} ${r.stderr}`);
  return r.stdout ? JSON.parse(r.stdout) : undefined;
}

async function bench(ns) {
  const base = mkdtempSync(join(tmpdir(), 'ctl-bench-netd-'));
  const require = createRequire(join(repo, 'packages', 'netd', 'package.json'));
  const { NetworksClient } = require('@ctl/netd/client');
  const { WireClient } = require('@ctl/proto/wire');
  const { waitForService } = require('@ctl/proto/testing');
  const netns = [];
  const container = () => {
    const name = `${ns}-c${netns.length}`;
    execFileSync('ip', ['netns', 'add', name]);
    netns.push(name);
    return `/run/netns/${name}`;
  };
  const netd = spawn(
    process.execPath,
    [
      join(repo, 'packages', 'netd', 'bin', 'ctl-netd.js'),
      '--root',
      join(base, 'root'),
      '--state',
      join(base, 'state'),
      '--log-level',
      'warn',
    ],
    {
      stdio: 'inherit',
    },
  );
  let wire;
  try {
    const socket = join(base, 'state', 'netd.sock');
    await waitForService(socket);
    wire = new WireClient(socket);
    const client = new NetworksClient(wire, 'bench');
    await client.create({ name: 'bench', ipv4: { subnet: '10.98.0.0/16' } });
    const ours = container();
    const netdMs = await timed(RUNS, async () => {
      await client.attach({
        containerId: 'bench',
        network: 'bench',
        netnsPath: ours,
        ports: [{ protocol: 'tcp', hostIp: '', hostPort: 8080, containerPort: 80 }],
      });
      await client.detach('bench');
    });

    // Without a port (no nftables write), what `ctl run` on the default bridge adds.
    const bareMs = await timed(RUNS, async () => {
      await client.attach({ containerId: 'bench', network: 'bench', netnsPath: ours });
      await client.detach('bench');
    });

    const theirs = container();
    const list = { cniVersion: '1.0.0', name: 'cnibench' };
    const bridge = {
      ...list,
      type: 'bridge',
      bridge: 'cnibench0',
      isGateway: true,
      ipMasq: true,
      ipam: { type: 'host-local', ranges: [[{ subnet: '10.99.0.0/16' }]], dataDir: join(base, 'cni-ipam') },
    };
    const portmap = { ...list, type: 'portmap', capabilities: { portMappings: true } };
    const loopback = { ...list, type: 'loopback' };
    const ports = { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] };
    const env = (ifname) => ({ CNI_CONTAINERID: 'bench', CNI_NETNS: theirs, CNI_IFNAME: ifname });
    const cniMs = await timed(RUNS, async () => {
      plugin('loopback', 'ADD', loopback, env('lo'));
      const added = plugin('bridge', 'ADD', bridge, env('eth0'));
      const result = plugin('portmap', 'ADD', { ...portmap, runtimeConfig: ports, prevResult: added }, env('eth0'));
      plugin('portmap', 'DEL', { ...portmap, runtimeConfig: ports, prevResult: result }, env('eth0'));
      plugin('bridge', 'DEL', { ...bridge, prevResult: result }, env('eth0'));
      plugin('loopback', 'DEL', loopback, env('lo'));
    });
    const nodeMs = await timed(RUNS, () => spawnSync(process.execPath, ['-e', '0']));

    console.log(`\nattach + detach of one endpoint with one published port, medians of ${RUNS} (in netns ${ns}):`);
    console.log(`  netd (bridge, IPAM, veth, nftables):                ${ms(netdMs)}`);
    console.log(`  CNI plugins (loopback + bridge/host-local + portmap): ${ms(cniMs)}`);
    console.log(`  netd without a published port:                      ${ms(bareMs)}`);
    console.log(`  netd/CNI = ${(netdMs / cniMs).toFixed(2)}x (target <= 0.5x); node -e 0: ${ms(nodeMs)}`);
    await client.remove('bench');
  } finally {
    wire?.close();
    netd.kill('SIGTERM');
    await new Promise((r) => netd.on('exit', r));
    for (const name of netns) spawnSync('ip', ['netns', 'del', name]);
    rmSync(base, { recursive: true, force: true });
  }
}

if (!process.env.CTL_BENCH_NETNS) {
  const ns = `ctl-bench-${randomBytes(3).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, self], {
      stdio: 'inherit',
      env: { ...process.env, CTL_BENCH_NETNS: ns },
    });
    process.exitCode = r.status ?? 1;
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
  }
} else {
  await bench(process.env.CTL_BENCH_NETNS);
}
