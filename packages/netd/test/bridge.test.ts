/**
 * The bridge driver with real traffic, netd running as its own process in a netns of the test's
 * (lab.ts): endpoints reach each other on a network, published ports answer from the host netns
 * (127.0.0.1 and its outside address) and from a client beyond it, networks are isolated,
 * internal networks have no way out, and removing everything leaves the host netns as it was.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@ctl/proto/testing';
import type { NetworksClient } from '../src/client';
import { CLIENT, HOST_OUTSIDE, Lab } from './lab';

const addressOf = (e: { ips: { address: string }[] }) => e.ips[0]!.address.split('/')[0]!;

describe('netd bridge networks (in a netns of their own)', function () {
  this.timeout(120_000);
  let lab: Lab;
  let netd: NetworksClient;
  let www: string;
  const before0 = { links: [] as string[], table: '' };

  before(async () => {
    lab = new Lab();
    // A table that is not ours: it must come out of everything as it went in.
    assert.equal(
      lab.exec(lab.host, [
        'nft',
        'add table ip other; add chain ip other c { type filter hook forward priority 0; }; add rule ip other c counter',
      ]).status,
      0,
    );
    Object.assign(before0, lab.hostState());
    netd = await lab.start();
    www = mkdtempSync(join(tmpdir(), 'ctl-netd-www-'));
    writeFileSync(join(www, 'index.html'), 'hello from the container\n');
  });

  after(async () => {
    await lab.close();
    rmSync(www, { recursive: true, force: true });
  });

  it('gives two endpoints of one network addresses, routes and loopback, and they reach each other', async () => {
    const net = await netd.create({ name: 'bridge' }, { ifNotExists: true });
    assert.equal(net.ipv4?.subnet, '172.17.0.0/16');
    assert.equal(net.ipv4?.gateway, '172.17.0.1');
    const [a, b] = [lab.container(), lab.container()];
    const ea = await netd.attach({ containerId: 'a', network: 'bridge', netnsPath: a, name: 'a' });
    const eb = await netd.attach({ containerId: 'b', network: 'bridge', netnsPath: b, name: 'b' });
    assert.deepEqual(
      [ea.ips[0], eb.ips[0]],
      [
        { address: '172.17.0.2/16', gateway: '172.17.0.1' },
        { address: '172.17.0.3/16', gateway: '172.17.0.1' },
      ],
    );
    assert.equal(ea.interface.name, 'eth0');
    assert.equal(ea.interface.macAddress, '02:42:ac:11:00:02');
    assert.match(lab.exec(a, ['ip', 'route']).stdout, /default via 172\.17\.0\.1 dev eth0/);
    assert.ok(lab.ping(a, '127.0.0.1'), 'loopback is up');
    assert.ok(lab.ping(a, addressOf(eb)), 'a reaches b');
    assert.ok(lab.ping(b, addressOf(ea)), 'b reaches a');
    assert.ok(lab.ping(a, HOST_OUTSIDE), 'a reaches out through the gateway (NAT)');
    await netd.detach('a');
    await netd.detach('b');
  });

  it('publishes a port: the host reaches it on 127.0.0.1 and its own address, a client beyond it too', async () => {
    const c = lab.container();
    const e = await netd.attach({
      containerId: 'web',
      network: 'bridge',
      netnsPath: c,
      ports: [{ protocol: 'tcp', hostIp: '', hostPort: 8080, containerPort: 80 }],
    });
    assert.deepEqual(e.ports, [{ protocol: 'tcp', hostIp: '', hostPort: 8080, containerPort: 80 }]);
    lab.children.spawn('ip', ['netns', 'exec', c.replace('/run/netns/', ''), 'busybox', 'httpd', '-f', '-p', '80', '-h', www]);
    await waitFor('httpd in the container', () => lab.fetch(lab.host, `http://${addressOf(e)}/index.html`));
    assert.equal(lab.fetch(lab.host, 'http://127.0.0.1:8080/index.html'), 'hello from the container\n');
    assert.equal(lab.fetch(lab.host, `http://${HOST_OUTSIDE}:8080/index.html`), 'hello from the container\n');
    assert.equal(lab.fetch(lab.client, `http://${HOST_OUTSIDE}:8080/index.html`), 'hello from the container\n');
    assert.ok(lab.ping(c, CLIENT), 'the container reaches the client (masqueraded)');
    const neighbour = lab.container();
    const en = await netd.attach({ containerId: 'neighbour', network: 'bridge', netnsPath: neighbour });
    assert.equal(lab.fetch(neighbour, `http://${HOST_OUTSIDE}:8080/index.html`), 'hello from the container\n', 'hairpin from its network');
    assert.equal(lab.fetch(c, `http://${HOST_OUTSIDE}:8080/index.html`), 'hello from the container\n', 'hairpin to itself');
    assert.equal(lab.fetch(neighbour, 'http://172.17.0.1:8080/index.html'), 'hello from the container\n', 'at its gateway');
    // Bridged from one container to another of the network: not tracked (the host's conntrack has
    // no entry of it), while what was DNATed to the container and masqueraded is.
    assert.equal(lab.fetch(neighbour, `http://${addressOf(e)}/index.html`), 'hello from the container\n', 'direct on its network');
    const tracked = lab.exec(lab.host, ['cat', '/proc/net/nf_conntrack']).stdout;
    assert.doesNotMatch(tracked, new RegExp(`src=${addressOf(en)} dst=${addressOf(e)} `), 'neighbour to web is not tracked');
    assert.match(
      tracked,
      new RegExp(`src=${addressOf(en)} dst=${HOST_OUTSIDE} .* dport=8080 src=${addressOf(e)} dst=172\\.17\\.0\\.1 `),
      'hairpin is',
    );
    await netd.detach('neighbour');
    // A host port of 0 gets a free one.
    const other = await netd.attach({
      containerId: 'web2',
      network: 'bridge',
      netnsPath: lab.container(),
      ports: [{ protocol: 'udp', hostIp: '127.0.0.1', hostPort: 0, containerPort: 53 }],
    });
    assert.ok(other.ports[0]!.hostPort > 0);
    await netd.detach('web2');
    await netd.detach('web');
    assert.equal(lab.fetch(lab.host, 'http://127.0.0.1:8080/index.html'), undefined, 'unpublished on detach');
  });

  it('keeps two networks apart, and an internal network without a way out', async () => {
    const one = await netd.create({ name: 'one' });
    const two = await netd.create({ name: 'two' });
    const inner = await netd.create({ name: 'inner', internal: true });
    assert.deepEqual([one.ipv4?.subnet, two.ipv4?.subnet, inner.ipv4?.subnet], ['172.18.0.0/16', '172.19.0.0/16', '172.20.0.0/16']);
    const [c1, c2, ci] = [lab.container(), lab.container(), lab.container()];
    const e1 = await netd.attach({ containerId: 'x', network: 'one', netnsPath: c1 });
    const e2 = await netd.attach({ containerId: 'y', network: 'two', netnsPath: c2 });
    const ei = await netd.attach({ containerId: 'z', network: 'inner', netnsPath: ci });
    assert.ok(lab.ping(c1, HOST_OUTSIDE), 'one reaches out');
    assert.ok(!lab.ping(c1, addressOf(e2)), 'one does not reach two');
    assert.ok(!lab.ping(c2, addressOf(e1)), 'two does not reach one');
    assert.deepEqual(ei.routes, []);
    assert.doesNotMatch(lab.exec(ci, ['ip', 'route']).stdout, /default/);
    assert.ok(!lab.ping(ci, HOST_OUTSIDE), 'internal has no way out');
    assert.ok(!lab.ping(c1, addressOf(ei)), 'nothing reaches into internal');
    for (const id of ['x', 'y', 'z']) await netd.detach(id);
    for (const n of ['one', 'two', 'inner']) await netd.remove(n);
  });

  it('gives IPv6 addresses and routes on a network that has a v6 subnet', async () => {
    const six = await netd.create({ name: 'six', ipv6: { subnet: 'fd42:0:0:7::/64' } });
    assert.equal(six.ipv6?.gateway, 'fd42:0:0:7::1');
    const [a, b] = [lab.container(), lab.container()];
    const ea = await netd.attach({ containerId: 'a6', network: 'six', netnsPath: a });
    const eb = await netd.attach({ containerId: 'b6', network: 'six', netnsPath: b, ipv6Address: 'fd42:0:0:7::99' });
    assert.deepEqual(ea.ips[1], { address: 'fd42:0:0:7::2/64', gateway: 'fd42:0:0:7::1' });
    assert.deepEqual(eb.ips[1], { address: 'fd42:0:0:7::99/64', gateway: 'fd42:0:0:7::1' });
    assert.ok(ea.routes.some((r) => r.destination === '::/0'));
    assert.ok(lab.ping(a, 'fd42:0:0:7::99'), 'a reaches b over IPv6');
    assert.ok(lab.ping(b, 'fd42:0:0:7::1'), 'b reaches its IPv6 gateway');
    await netd.detach('a6');
    await netd.detach('b6');
    await netd.remove('six');
  });

  it('leaves no bridge, veth or nftables table behind once everything is removed', async () => {
    assert.deepEqual(await netd.listEndpoints(), []);
    await netd.remove('bridge');
    assert.deepEqual(lab.hostState(), before0);
    assert.match(lab.exec(lab.host, ['nft', 'list', 'table', 'ip', 'other']).stdout, /chain c \{[^}]*counter packets \d+/);
  });
});
