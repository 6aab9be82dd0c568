/**
 * The run path's networking (run/network.ts) against a recording stand-in for netd (netd's own
 * tests cover the real one): the container's netns pinned on a file with lo up, the attach
 * requests in order, the name files, and everything gone after tearDown, also when an attach fails.
 * Root: it makes a network namespace (no interface other than its loopback, no traffic).
 */
import type { AttachRequest, Endpoint, Network, Networks, NewNetwork } from '@ctl/netd/client';
import { notFound, unavailable } from '@ctl/proto/errors';
import type { ContainerConfig__Output } from '@ctl/proto/generated/ctl/run/v1/ContainerConfig';
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContainerNetworking } from '../src/run/network';
import { networkPlan } from '../src/run/network-plan';

const endpoint = (r: AttachRequest, i: number): Endpoint => ({
  containerId: r.containerId,
  network: r.network,
  networkId: 'f'.repeat(64),
  name: r.name ?? '',
  aliases: r.aliases ?? [],
  netnsPath: r.netnsPath,
  interface: { name: `eth${i}`, macAddress: '02:42:ac:11:00:02', hostName: 'veth0' },
  ips: [{ address: `172.18.${i}.2/16`, gateway: `172.18.${i}.1` }],
  routes: [],
  dns: { nameservers: i === 0 ? ['172.18.0.1'] : [], search: [], options: [] },
  ports: (r.ports ?? []).map((p) => ({ ...p, hostPort: p.hostPort || 32768 })),
  bandwidth: { egressBps: r.bandwidth?.egressBps ?? 0, ingressBps: r.bandwidth?.ingressBps ?? 0 },
  createdAt: '',
});

class FakeNetworks implements Partial<Networks> {
  attached: AttachRequest[] = [];
  detached: string[] = [];
  created: string[] = [];
  /** the networks netd has, as its attach finds them */
  networks = new Set(['front', 'back']);
  failOn = '';
  /** What netd holds now (attach adds, detach takes all of the container's). */
  endpoints: Endpoint[] = [];
  async create(n: NewNetwork, options?: { ifNotExists?: boolean }): Promise<Network> {
    if (options?.ifNotExists) this.created.push(n.name);
    this.networks.add(n.name);
    return { name: n.name } as Network;
  }
  async attach(r: AttachRequest): Promise<Endpoint> {
    if (r.network === this.failOn) throw unavailable(`netd: network ${r.network} is down`);
    if (!this.networks.has(r.network)) throw notFound(`network ${r.network} not found`);
    // the netns is a real one with lo up by now
    const lo = execFileSync('nsenter', [`--net=${r.netnsPath}`, 'cat', '/sys/class/net/lo/operstate'], { encoding: 'utf8' }).trim();
    assert.equal(lo, 'unknown', 'lo is up (a loopback is "unknown" when up)');
    this.attached.push(r);
    const made = endpoint(r, this.attached.length - 1);
    this.endpoints.push(made);
    return made;
  }
  async detach(containerId: string): Promise<void> {
    this.detached.push(containerId);
    if (this.failOn) throw unavailable('netd is down');
    this.endpoints = this.endpoints.filter((e) => e.containerId !== containerId);
  }
  async listEndpoints(filter?: { containerId?: string }): Promise<Endpoint[]> {
    return this.endpoints.filter((e) => !filter?.containerId || e.containerId === filter.containerId);
  }
}

const config = (c: object): ContainerConfig__Output => c as ContainerConfig__Output;

/** The plan of a container on these networks and nothing else. */
const onNetworks = (...names: string[]) =>
  networkPlan(
    config({
      namespaces: { network: 'NONE' },
      networking: {
        networks: names.map((network) => ({ network, aliases: [] })),
        ports: [],
        expose: [],
        dns: [],
        dnsSearch: [],
        dnsOptions: [],
        extraHosts: [],
      },
    }),
  );

describe('a container network (root, a netns of its own, netd stood in for)', function () {
  if (process.getuid?.() !== 0) return;
  let dir: string;
  let fake: FakeNetworks;
  let net: ContainerNetworking;
  /** The records' labels, as the container store would answer them. */
  let records: Map<string, Record<string, string>>;
  const networking = (): ContainerNetworking =>
    new ContainerNetworking({
      networks: () => fake as unknown as Networks,
      netnsDir: join(dir, 'netns'),
      filesDir: join(dir, 'containers'),
      taskPid: async () => undefined,
      hostFiles: { hosts: join(dir, 'hosts'), resolvConf: join(dir, 'resolv.conf') },
      labels: async (_ns, id) => records.get(id),
    });
  beforeEach(() => {
    records = new Map();
    dir = mkdtempSync(join(tmpdir(), 'ctl-net-'));
    writeFileSync(join(dir, 'resolv.conf'), 'nameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch example.org\n');
    writeFileSync(join(dir, 'hosts'), '127.0.0.1 localhost\n10.9.9.9 the-host\n');
    fake = new FakeNetworks();
    net = networking();
  });
  afterEach(() => {
    const netnsDir = join(dir, 'netns', 'ns');
    for (const id of existsSync(netnsDir) ? readdirSync(netnsDir) : []) execFileSync('umount', [join(netnsDir, id)], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  });

  const mounted = (file: string): boolean => readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${file} `);

  it('pins a netns, attaches it to each network in order (ports and limits on the first; bridge made if missing), writes the name files', async () => {
    const plan = networkPlan(
      config({
        namespaces: { network: 'NONE' },
        networking: {
          networks: [
            { network: 'front', aliases: ['web'], ipv4Address: '', ipv6Address: '', macAddress: '' },
            { network: 'bridge', aliases: [], ipv4Address: '', ipv6Address: '', macAddress: '' },
          ],
          ports: [{ protocol: 'tcp', hostIp: '', hostPort: 8080, containerPort: 80 }],
          publishAll: true,
          expose: ['53/udp'],
          dns: [],
          dnsSearch: [],
          dnsOptions: [],
          extraHosts: [{ host: 'gw', ip: 'host-gateway' }],
          egressBps: 1e6,
          ingressBps: 0,
        },
      }),
    );
    const made = await net.setUp('ns', 'c1', plan, { imageExposed: ['80/tcp', '443/tcp'], mounted: new Set() });
    const netns = join(dir, 'netns', 'ns', 'c1');
    assert.deepEqual(made.network, { path: netns });
    assert.ok(mounted(netns), 'the netns file is a mount (nsfs)');
    assert.deepEqual(
      fake.attached.map((a) => [a.network, a.netnsPath, a.name, a.aliases, a.ports?.length, a.bandwidth?.egressBps]),
      [
        ['front', netns, 'c1', ['web'], 3, 1e6],
        ['bridge', netns, 'c1', [], 0, undefined],
      ],
    );
    assert.deepEqual(fake.created, ['bridge'], 'the default network is made on first use, no other');
    assert.deepEqual(fake.attached[0]!.ports, [
      { protocol: 'tcp', hostIp: '', hostPort: 8080, containerPort: 80 },
      { protocol: 'tcp', hostIp: '', hostPort: 0, containerPort: 443 },
      { protocol: 'udp', hostIp: '', hostPort: 0, containerPort: 53 },
    ]);
    assert.equal(made.hostname, 'c1');
    assert.deepEqual(made.labels, {
      'ctl.network.mode': 'front,bridge',
      'ctl.network.ports': JSON.stringify(endpoint(fake.attached[0]!, 0).ports),
    });
    assert.deepEqual(
      made.mounts.map((m) => [m.destination, m.source]),
      ['hosts', 'hostname', 'resolv.conf'].map((f) => [`/etc/${f}`, join(dir, 'containers', 'ns', 'c1', f)]),
    );
    const files = join(dir, 'containers', 'ns', 'c1');
    const hosts = readFileSync(join(files, 'hosts'), 'utf8');
    assert.match(hosts, /^127\.0\.0\.1\tlocalhost\n/);
    assert.match(hosts, /\n172\.18\.0\.1\tgw\n172\.18\.0\.2\tc1\n$/, 'host-gateway is the first network gateway; the own address last');
    assert.equal(readFileSync(join(files, 'hostname'), 'utf8'), 'c1\n');
    assert.match(
      readFileSync(join(files, 'resolv.conf'), 'utf8'),
      /^nameserver 172\.18\.0\.1\nsearch example\.org\n/,
      "the network's resolver",
    );

    await net.tearDown('ns', 'c1', ContainerNetworking.attached(made.labels));
    assert.deepEqual(fake.detached, ['c1']);
    assert.equal(mounted(netns), false);
    assert.equal(existsSync(netns), false);
    assert.equal(existsSync(files), false);
  });

  it('asks netd to make the default network only when an attach does not find it', async () => {
    const plan = onNetworks('bridge');
    for (const id of ['c1', 'c2']) await net.setUp('ns', id, plan, { imageExposed: [], mounted: new Set() });
    assert.deepEqual(
      fake.attached.map((a) => [a.containerId, a.network]),
      [
        ['c1', 'bridge'],
        ['c2', 'bridge'],
      ],
    );
    assert.deepEqual(fake.created, ['bridge'], 'one create, by the first attach that did not find it; none when it is there');
    for (const id of ['c1', 'c2']) await net.tearDown('ns', id, true);
    assert.deepEqual(readdirSync(join(dir, 'netns', 'ns')), []);
  });

  it('gives --network none its files from the host (no loopback nameserver) and never asks netd', async () => {
    const plan = networkPlan(config({ namespaces: { network: 'NONE' }, networking: null }));
    const made = await net.setUp('ns', 'c1', plan, { hostname: 'box', imageExposed: [], mounted: new Set(['/etc/hosts']) });
    assert.equal(made.network, 'none');
    assert.deepEqual(made.labels, {});
    assert.deepEqual(
      made.mounts.map((m) => m.destination),
      ['/etc/hostname', '/etc/resolv.conf'],
      "the user's own /etc/hosts mount wins",
    );
    const files = join(dir, 'containers', 'ns', 'c1');
    assert.equal(readFileSync(join(files, 'resolv.conf'), 'utf8'), 'nameserver 10.0.0.2\nsearch example.org\n');
    assert.doesNotMatch(readFileSync(join(files, 'hosts'), 'utf8'), /box/, 'no address of its own');
    await net.tearDown('ns', 'c1', false);
    assert.deepEqual(fake.detached, []);
    assert.equal(existsSync(files), false);
  });

  it('leaves nothing when an attach fails half way: the first network detached, the netns gone (also when netd fails the detach)', async () => {
    fake.failOn = 'back';
    const plan = onNetworks('front', 'back');
    await assert.rejects(net.setUp('ns', 'c1', plan, { imageExposed: [], mounted: new Set() }), /network back is down/);
    assert.deepEqual(fake.detached, ['c1']);
    assert.equal(existsSync(join(dir, 'netns', 'ns', 'c1')), false);
    assert.equal(existsSync(join(dir, 'containers', 'ns', 'c1')), false);
  });

  it('makes the netns again and attaches it again on start after a reboot or when netd lost the endpoints, as asked at create', async () => {
    const plan = networkPlan(
      config({
        namespaces: { network: 'NONE' },
        networking: {
          networks: [{ network: 'front', aliases: ['web'], ipv4Address: '172.18.0.9', ipv6Address: '', macAddress: '' }],
          ports: [{ protocol: 'tcp', hostIp: '', hostPort: 0, containerPort: 80 }],
          expose: [],
          dns: [],
          dnsSearch: [],
          dnsOptions: [],
          extraHosts: [],
        },
      }),
    );
    const made = await net.setUp('ns', 'c1', plan, { hostname: 'box', imageExposed: [], mounted: new Set() });
    records.set('c1', made.labels);
    const netns = join(dir, 'netns', 'ns', 'c1');
    const hosts = join(dir, 'containers', 'ns', 'c1', 'hosts');
    assert.equal(await net.restore('ns', 'c1'), undefined, 'the first start after create: as made');
    assert.equal(fake.attached.length, 1);

    // a reboot: /run is empty (the netns file gone), the daemon is new; netd still holds the endpoint
    execFileSync('umount', [netns]);
    rmSync(netns);
    net = networking();
    fake.endpoints[0]!.ports[0]!.hostPort = 32769; // what the label says, unlike the next attach
    records.set('c1', { ...made.labels, 'ctl.network.ports': JSON.stringify(fake.endpoints[0]!.ports) });
    const changed = await net.restore('ns', 'c1');
    assert.ok(mounted(netns), 'a new netns pinned on the file');
    assert.deepEqual(fake.detached, ['c1'], 'the stale endpoint released first (its static address can be had again)');
    assert.deepEqual(fake.attached[1], { ...fake.attached[0], netnsPath: netns }, 'attached again as asked at create');
    assert.deepEqual(changed, { 'ctl.network.ports': JSON.stringify(fake.endpoints[0]!.ports) }, 'the ports label as published now');
    assert.match(readFileSync(hosts, 'utf8'), /\n172\.18\.1\.2\tbox\n$/, 'the hosts file names the address it has now');
    records.set('c1', { ...made.labels, ...changed });

    // netd lost the endpoint; the netns is alive and stays
    const inode = statSync(netns).ino;
    fake.endpoints = [];
    assert.equal(await net.restore('ns', 'c1'), undefined);
    assert.equal(fake.attached.length, 3);
    assert.equal(statSync(netns).ino, inode, 'the same netns');
    assert.equal(await net.restore('ns', 'c1'), undefined);
    assert.equal(fake.attached.length, 3, 'nothing missing: nothing made');

    // a start racing a delete: once released for the delete nothing comes back
    await net.tearDown('ns', 'c1', true, true);
    assert.equal(await net.restore('ns', 'c1'), undefined);
    assert.equal(existsSync(netns), false);
    assert.equal(fake.attached.length, 3);
    assert.deepEqual(fake.endpoints, []);
  });

  it('refuses bad networking with InvalidArgument naming the field', () => {
    const bad =
      (networking: object, namespaces: object = { network: 'NONE' }) =>
      () =>
        networkPlan(config({ namespaces, networking }));
    const base = { networks: [], ports: [], expose: [], dns: [], dnsSearch: [], dnsOptions: [], extraHosts: [] };
    assert.throws(bad({ ...base, networks: [{ network: 'n', aliases: [] }] }, { network: 'HOST' }), /networking\.networks: networks need/);
    assert.throws(
      bad({ ...base, ports: [{ protocol: 'tcp', hostIp: '', hostPort: 1, containerPort: 80 }] }),
      /publishing ports needs a network/,
    );
    assert.throws(bad({ ...base, extraHosts: [{ host: 'gw', ip: 'host-gateway' }] }), /extra_hosts\[0\]\.ip: host-gateway needs a network/);
    assert.throws(bad({ ...base, dns: ['nope'] }), /networking\.dns\[0\]: "nope" is not an IP address/);
    assert.throws(bad({ ...base, networks: [{ network: 'n', aliases: [], ipv4Address: '10.0.0.300' }] }), /ipv4_address: "10\.0\.0\.300"/);
  });
});
