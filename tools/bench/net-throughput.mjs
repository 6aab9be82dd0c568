#!/usr/bin/env node
// TCP throughput (iperf3, one stream) through ctl's networks against the bare kernel, side by side
// in one run, rounds interleaved, medians and ratios, with `node -e 0` (without and with
// NODE_EXTRA_CA_CERTS) beside as the machine's load:
// - container to container on the default bridge against two bare netns joined by a veth pair
//   (target >= 0.9x);
// - into a container through a published port (nftables DNAT, no proxy process) from the bench's
//   netns, at 127.0.0.1 and at the netns's own outward address, against the direct path to the
//   container's address (target >= 0.9x); and through docker-proxy (Docker's userland proxy) when
//   docker.io is installed.
// iperf3 runs in the containers' netns (busybox has none). All inside a network namespace of the
// bench's own (lib/netns.mjs), state on one tmpfs.
import { startCtl, tmpfsBase, waitFor } from './lib/ctl.mjs';
import { certEnvs, inOwnNetns } from './lib/netns.mjs';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, nodeStart } from './lib/stats.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const DOCKER_PROXY = '/usr/sbin/docker-proxy';
const OUTWARD = '192.0.2.1';

if (inOwnNetns(fileURLToPath(import.meta.url))) {
  const tmp = tmpfsBase('ctl-bench-tput-');
  const [[, plain]] = certEnvs();
  const servers = [];
  const pins = [];
  let instance;
  const inNetns = (netns, argv) => ['nsenter', `--net=${netns}`, ...argv];
  /** An iperf3 server in netns on port, left running until the end. */
  const server = async (netns, port) => {
    const [cmd, ...args] = inNetns(netns, ['iperf3', '-s', '-p', String(port)]);
    servers.push(spawn(cmd, args, { stdio: 'ignore' }));
    await waitFor(`iperf3 on ${port}`, () =>
      execFileSync(...splitHead(inNetns(netns, ['ss', '-Hltn', `sport = :${port}`])), { encoding: 'utf8' }).trim(),
    );
  };
  const splitHead = ([cmd, ...args]) => [cmd, args];
  /** Gbit/s received by the server, the client in netns (undefined: this netns). */
  const client = (netns, host, port) => {
    const argv = ['iperf3', '-c', host, '-p', String(port), '-t', String(SECONDS), '-J'];
    const out = execFileSync(...splitHead(netns ? inNetns(netns, argv) : argv), { encoding: 'utf8' });
    return JSON.parse(out).end.sum_received.bits_per_second / 1e9;
  };
  try {
    execFileSync('sh', [
      '-c',
      `ip link add out0 type veth peer name out1 && ip addr add ${OUTWARD}/24 dev out0 && ip link set out0 up && ip link set out1 up`,
    ]);
    // Two bare netns joined by a veth pair: the kernel's own figure.
    const bare = ['a', 'b'].map((n) => join(tmp.base, `bare-${n}`));
    for (const file of bare) {
      writeFileSync(file, '');
      execFileSync('unshare', [`--net=${file}`, 'ip', 'link', 'set', 'lo', 'up']);
      pins.push(file);
    }
    execFileSync('ip', ['link', 'add', 'bare0', 'netns', bare[0], 'type', 'veth', 'peer', 'name', 'bare1', 'netns', bare[1]]);
    for (const [i, file] of bare.entries())
      execFileSync(...splitHead(inNetns(file, ['sh', '-c', `ip addr add 10.77.0.${i + 1}/24 dev bare${i} && ip link set bare${i} up`])));
    await server(bare[0], 5201);

    instance = await startCtl(join(tmp.base, 'ctl'), plain);
    const { ctl } = instance;
    const run = (...args) => ctl(['run', '-d', ...args, 'busybox', 'sleep', '3600'], { encoding: 'utf8' }).trim();
    const netnsOf = (id) => `/proc/${ctl(['inspect', '-f', '{{.State.Pid}}', id], { encoding: 'utf8' }).trim()}/ns/net`;
    const ipOf = (id) => ctl(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', id], { encoding: 'utf8' }).trim();
    const srv = run('--name', 'srv', '-p', '5301:5201');
    const cli = run('--name', 'cli');
    await server(netnsOf(srv), 5201);
    let proxy;
    if (existsSync(DOCKER_PROXY)) {
      const args = ['-proto', 'tcp', '-host-ip', '127.0.0.1', '-host-port', '5302', '-container-ip', ipOf(srv), '-container-port', '5201'];
      // as dockerd runs it: fd 3 is a pipe on which it says "0" once it listens (or why not)
      proxy = spawn(DOCKER_PROXY, args, { stdio: ['ignore', 'ignore', 'inherit', 'pipe'] });
      servers.push(proxy);
      const said = await new Promise((r) => proxy.stdio[3].once('data', (d) => r(String(d))));
      if (!said.startsWith('0')) throw new Error(`docker-proxy: ${said}`);
    }

    const paths = {
      'bare netns, veth pair': () => client(bare[1], '10.77.0.1', 5201),
      'container to container (bridge)': () => client(netnsOf(cli), ipOf(srv), 5201),
      'direct to the container address': () => client(undefined, ipOf(srv), 5201),
      'published port at 127.0.0.1': () => client(undefined, '127.0.0.1', 5301),
      [`published port at ${OUTWARD}`]: () => client(undefined, OUTWARD, 5301),
      ...(proxy ? { 'docker-proxy at 127.0.0.1': () => client(undefined, '127.0.0.1', 5302) } : {}),
    };
    const figures = Object.fromEntries(Object.keys(paths).map((k) => [k, []]));
    for (let r = 0; r < ROUNDS; r++) for (const [name, measure] of Object.entries(paths)) figures[name].push(measure());
    const gbit = Object.fromEntries(Object.entries(figures).map(([k, xs]) => [k, median(xs)]));

    const loads = certEnvs().map(([label, env]) => `${label} ${nodeStart(env).toFixed(1)} ms`);
    console.log(`\nTCP throughput, iperf3 one stream, ${SECONDS} s, medians of ${ROUNDS} interleaved rounds (in a netns of its own):`);
    console.log(`  node -e 0: ${loads.join(', ')}`);
    const line = (name, base, target) => {
      const ratio = base ? ` = ${(gbit[name] / gbit[base]).toFixed(2)}x of ${base}${target ? ` (target >= ${target}x)` : ''}` : '';
      console.log(`  ${name.padEnd(34)} ${gbit[name].toFixed(2).padStart(6)} Gbit/s${ratio}`);
    };
    line('bare netns, veth pair');
    line('container to container (bridge)', 'bare netns, veth pair', 0.9);
    line('direct to the container address');
    line('published port at 127.0.0.1', 'direct to the container address', 0.9);
    line(`published port at ${OUTWARD}`, 'direct to the container address', 0.9);
    if (proxy) line('docker-proxy at 127.0.0.1', 'direct to the container address');
    else console.log(`  docker-proxy: not measured (${DOCKER_PROXY} missing: docker.io is not installed)`);
  } finally {
    for (const s of servers) s.kill('SIGTERM');
    await Promise.all(servers.map((s) => new Promise((r) => (s.exitCode !== null || s.signalCode ? r() : s.once('exit', r)))));
    try {
      instance?.ctl(['rm', '-f', 'srv', 'cli']);
    } catch {}
    await instance?.stop();
    for (const file of pins) spawnSync('umount', [file]);
    tmp.remove();
  }
}
