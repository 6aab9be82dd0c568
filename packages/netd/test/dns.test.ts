import { ErrorKind, isKind } from '@ctl/proto/errors';
import { strict as assert } from 'node:assert';
import { type Resolver, startResolver } from '../src/dns';
import { type FakeUpstream, OUTSIDE, addressLine, addresses, fakeUpstream, queryTcp, queryUdp } from './dns-client';
import { Netns, describeInOwnNetns, vethPair } from './netns';

const GATEWAY = '10.78.0.1';
const CONTAINER = '10.78.0.2';
const OTHER = '10.78.0.3';
const UPSTREAM = '127.0.0.1';

describeInOwnNetns('the network DNS resolver', __filename, () => {
  let container: Netns;
  let upstream: FakeUpstream;
  let resolver: Resolver;
  const names = new Map<string, string[]>();

  before(async () => {
    container = new Netns('c');
    vethPair('vethdns', container, GATEWAY, CONTAINER);
    upstream = await fakeUpstream(UPSTREAM);
    resolver = await startResolver({ address: GATEWAY, network: 'testnet', lookup: (name) => names.get(name), upstream: [UPSTREAM] });
  });
  beforeEach(() => {
    names.clear();
    names.set('web', [CONTAINER]);
    names.set('www', [CONTAINER, 'fd00::2']);
  });
  after(async () => {
    await resolver?.close();
    await upstream?.close();
    container?.remove();
  });

  it("answers a container's name over UDP and TCP, in any case, with or without the network's name", async () => {
    for (const name of ['web', 'WEB.', 'web.testnet']) assert.deepEqual(addresses(await queryUdp(GATEWAY, name, 'A')), [CONTAINER], name);
    assert.deepEqual(addresses(await queryTcp(GATEWAY, 'web', 'A')), [CONTAINER]);
    assert.deepEqual(addresses(await queryUdp(GATEWAY, 'www', 'AAAA')), ['fd00::2']);
  });

  it('answers no data, not the upstream, for a family or type the name has no record of', async () => {
    const none = await queryUdp(GATEWAY, 'web', 'AAAA');
    assert.equal(none.rcode, 'NOERROR');
    assert.deepEqual(addresses(none), []);
    assert.equal((await queryUdp(GATEWAY, 'web', 'MX')).rcode, 'NOERROR');
    assert.equal(upstream.asked(), 0);
  });

  it('changes its answer as containers come and go', async () => {
    assert.deepEqual(addresses(await queryUdp(GATEWAY, 'web', 'A')), [CONTAINER]);
    names.set('web', [OTHER]);
    assert.deepEqual(addresses(await queryUdp(GATEWAY, 'web', 'A')), [OTHER]);
    names.delete('web');
    assert.equal((await queryUdp(GATEWAY, 'web', 'A')).rcode, 'NXDOMAIN');
  });

  it('forwards other names to the upstream and relays its answer, NXDOMAIN too, over UDP and TCP', async () => {
    assert.deepEqual(addresses(await queryUdp(GATEWAY, OUTSIDE.name, 'A')), [OUTSIDE.address]);
    assert.deepEqual(addresses(await queryTcp(GATEWAY, OUTSIDE.name, 'A')), [OUTSIDE.address]);
    const missing = await queryUdp(GATEWAY, 'missing.example', 'A');
    assert.equal(missing.rcode, 'NXDOMAIN');
    assert.equal((await queryTcp(GATEWAY, 'missing.example', 'A')).rcode, 'NXDOMAIN');
  });

  it("answers busybox nslookup in a container's network namespace", async () => {
    assert.match(await container.run('busybox', 'nslookup', 'web', GATEWAY), addressLine(CONTAINER));
    assert.match(await container.run('busybox', 'nslookup', OUTSIDE.name, GATEWAY), addressLine(OUTSIDE.address));
  });

  it('answers SERVFAIL when no upstream answers: nothing listening, or no route to it', async () => {
    const failing = await startResolver({ address: GATEWAY, port: 5353, lookup: () => undefined, upstream: ['127.0.0.9', '203.0.113.1'] });
    try {
      assert.equal((await queryUdp(GATEWAY, OUTSIDE.name, 'A', 5353)).rcode, 'SERVFAIL');
      assert.equal((await queryTcp(GATEWAY, OUTSIDE.name, 'A', 5353)).rcode, 'SERVFAIL');
    } finally {
      await failing.close();
    }
  });

  it('asks each client’s own upstreams when given per client', async () => {
    const perClient = await startResolver({
      address: GATEWAY,
      port: 5354,
      lookup: () => undefined,
      upstream: (client) => (client === GATEWAY ? [UPSTREAM] : []),
    });
    try {
      assert.deepEqual(addresses(await queryUdp(GATEWAY, OUTSIDE.name, 'A', 5354)), [OUTSIDE.address]);
    } finally {
      await perClient.close();
    }
  });

  it('frees its port on close, and refuses an address the host does not have', async () => {
    const again = await startResolver({ address: GATEWAY, port: 5355, lookup: () => undefined, upstream: [] });
    await again.close();
    await (await startResolver({ address: GATEWAY, port: 5355, lookup: () => undefined, upstream: [] })).close();
    await assert.rejects(
      startResolver({ address: '10.99.99.1', lookup: () => undefined, upstream: [] }),
      (err: Error) => isKind(err, ErrorKind.FailedPrecondition) && err.message.includes('10.99.99.1'),
    );
    await assert.rejects(startResolver({ address: GATEWAY, lookup: () => undefined, upstream: [] }), (err) =>
      isKind(err, ErrorKind.AlreadyExists),
    );
  });
});
