/**
 * netd's name service over its endpoint records (resolvers.ts), in a netns of the test's own
 * (loopback plays the network: the gateway 127.0.0.1, containers query from other 127/8 addresses).
 */
import { createLogger } from '@ctl/proto';
import { strict as assert } from 'node:assert';
import { startResolver } from '../src/dns';
import type { Endpoint, Network } from '../src/records';
import { NetworkResolvers } from '../src/resolvers';
import { type FakeUpstream, OUTSIDE, addresses, fakeUpstream, queryUdp } from './dns-client';
import { describeInOwnNetns } from './netns';

const GATEWAY = '127.0.0.1';
const HOST_UPSTREAM = { address: '127.0.0.53', answer: '192.0.2.53' };
const OWN_UPSTREAM = { address: '127.0.0.54', answer: '192.0.2.54' };

const network = (name: string, internal = false): Network => ({
  name,
  id: `${name}-id`,
  driver: 'bridge',
  ipv4: { subnet: '127.0.0.0/8', gateway: GATEWAY, ipRange: '' },
  internal,
  labels: {},
  options: {},
  createdAt: '',
  bridge: 'lo',
  dns: true,
});

const endpoint = (net: Network, name: string, address: string, more: Partial<Endpoint> = {}): Endpoint => ({
  containerId: name,
  network: net.name,
  networkId: net.id,
  name,
  aliases: [],
  netnsPath: '',
  interface: { name: 'eth0', macAddress: '', hostName: '' },
  ips: [{ address: `${address}/8`, gateway: GATEWAY }],
  routes: [],
  dns: { nameservers: [], search: [], options: [] },
  ports: [],
  bandwidth: { egressBps: 0, ingressBps: 0 },
  createdAt: '',
  ...more,
});

describeInOwnNetns("netd's resolvers over its endpoints", __filename, () => {
  const upstreams: FakeUpstream[] = [];
  const resolvers = new NetworkResolvers(createLogger('test', 'error'), {
    hostResolvConf: () => Promise.resolve({ nameservers: [HOST_UPSTREAM.address], search: [], options: [] }),
  });
  const front = network('front');
  const a = endpoint(front, 'a', '127.0.0.2', { aliases: ['alpha'] });
  const b = endpoint(front, 'b', '127.0.0.3', { dnsUpstreams: [OWN_UPSTREAM.address] });
  const otherA = endpoint(front, 'a', '127.0.0.4');
  const ask = async (from: string, name: string) => addresses(await queryUdp(GATEWAY, name, 'A', 53, from));

  before(async () => {
    for (const u of [HOST_UPSTREAM, OWN_UPSTREAM]) upstreams.push(await fakeUpstream(u.address, { name: OUTSIDE.name, address: u.answer }));
    assert.equal(await resolvers.ensure(front), GATEWAY);
    resolvers.add('one', a);
    resolvers.add('one', b);
    resolvers.add('two', otherA);
  });
  after(async () => {
    await resolvers.close();
    for (const u of upstreams) await u.close();
  });

  it("answers a container the names and aliases of its own namespace's containers, and <name>.<network>", async () => {
    assert.deepEqual(await ask('127.0.0.3', 'a'), ['127.0.0.2']);
    assert.deepEqual(await ask('127.0.0.3', 'ALPHA'), ['127.0.0.2']);
    assert.deepEqual(await ask('127.0.0.3', 'alpha.front'), ['127.0.0.2']);
    assert.deepEqual(await ask('127.0.0.4', 'a'), ['127.0.0.4'], 'namespace two has an "a" of its own');
    assert.deepEqual(await ask('127.0.0.4', 'b'), [], 'b is namespace one’s');
  });

  it("forwards other names to the container's own upstreams (--dns), else the host's", async () => {
    assert.deepEqual(await ask('127.0.0.3', OUTSIDE.name), [OWN_UPSTREAM.answer]);
    assert.deepEqual(await ask('127.0.0.2', OUTSIDE.name), [HOST_UPSTREAM.answer]);
  });

  it('answers a container on two networks the names of both, and no one else the other network’s', async () => {
    const back = network('back');
    const bOnBack = endpoint(back, 'b', '127.0.0.8');
    const d = endpoint(back, 'd', '127.0.0.7', { aliases: ['delta'] });
    resolvers.add('one', bOnBack);
    resolvers.add('one', d);
    try {
      assert.deepEqual(await ask('127.0.0.3', 'delta'), ['127.0.0.7'], 'b asks its first network’s resolver for a name on its second');
      assert.deepEqual(await ask('127.0.0.2', 'delta'), [], 'a is not on back');
    } finally {
      resolvers.remove('one', bOnBack);
      resolvers.remove('one', d);
    }
  });

  it('answers the name of a container’s address (PTR) as <name>.<network>, and forwards other addresses', async () => {
    const ptr = async (from: string, reversed: string) =>
      ((await queryUdp(GATEWAY, reversed, 'PTR', 53, from)).answers ?? []).map((a) => ('data' in a ? String(a.data) : ''));
    assert.deepEqual(await ptr('127.0.0.3', '2.0.0.127.in-addr.arpa'), ['a.front']);
    assert.deepEqual(await ptr('127.0.0.4', '2.0.0.127.in-addr.arpa'), [], 'namespace two does not see it');
  });

  it('follows containers as they go and come', async () => {
    resolvers.remove('one', a);
    assert.deepEqual(await ask('127.0.0.3', 'alpha'), []);
    const again = endpoint(front, 'a2', '127.0.0.5', { aliases: ['alpha'] });
    resolvers.add('one', again);
    assert.deepEqual(await ask('127.0.0.3', 'alpha'), ['127.0.0.5']);
  });

  it('starts no resolver for a network without DNS, and stops one with its network', async () => {
    assert.equal(await resolvers.ensure({ ...network('plain'), dns: false }), undefined);
    await resolvers.stop(front.id);
    // its port is free again: nothing of it listens
    await (await startResolver({ address: GATEWAY, lookup: () => undefined, upstream: [] })).close();
  });

  it('forwards nothing from an internal network (it has no way out)', async () => {
    const inner = network('inner', true);
    assert.equal(await resolvers.ensure(inner), GATEWAY);
    resolvers.add('one', endpoint(inner, 'c', '127.0.0.6'));
    assert.equal((await queryUdp(GATEWAY, OUTSIDE.name, 'A', 53, '127.0.0.6')).rcode, 'SERVFAIL');
    await resolvers.stop(inner.id);
  });
});
