/**
 * netd across crashes and under load: a SIGKILLed netd starts again with every address and
 * published port where it was, releases the endpoints whose netns went while it was down, and
 * gives 100 concurrent attaches 100 different addresses.
 */
import { strict as assert } from 'node:assert';
import type { NetworksClient } from '../src/client';
import { Lab } from './lab';

describe('netd restarts and concurrent attaches', function () {
  this.timeout(180_000);
  let lab: Lab;
  let netd: NetworksClient;

  before(async () => {
    lab = new Lab();
    netd = await lab.start();
  });

  after(() => lab.close());

  it('keeps allocations and published ports across a SIGKILL, and releases endpoints whose netns is gone', async () => {
    await netd.create({ name: 'bridge' }, { ifNotExists: true });
    const [kept, gone] = [lab.container(), lab.container()];
    const ek = await netd.attach({
      containerId: 'kept',
      network: 'bridge',
      netnsPath: kept,
      ports: [{ protocol: 'tcp', hostIp: '', hostPort: 9090, containerPort: 90 }],
    });
    const eg = await netd.attach({ containerId: 'gone', network: 'bridge', netnsPath: gone });
    const before = lab.hostState();
    await lab.kill();
    lab.removeNetns(gone);
    netd = await lab.start();
    assert.deepEqual(
      (await netd.listEndpoints()).map((e) => e.containerId),
      ['kept'],
      'the endpoint whose netns is gone was released',
    );
    assert.deepEqual(lab.hostState().table, before.table, 'the published port is still there');
    assert.ok(!lab.hostState().links.includes(eg.interface.hostName));
    // kept's address stays kept; gone's is free again.
    const next = await netd.attach({ containerId: 'next', network: 'bridge', netnsPath: lab.container() });
    assert.equal(next.ips[0]!.address, eg.ips[0]!.address);
    assert.notEqual(next.ips[0]!.address, ek.ips[0]!.address);
    await assert.rejects(
      netd.attach({
        containerId: 'again',
        network: 'bridge',
        netnsPath: lab.container(),
        ports: [{ protocol: 'tcp', hostIp: '', hostPort: 9090, containerPort: 90 }],
      }),
      /already published by container kept/,
    );
    await netd.detach('kept');
    await netd.detach('next');
  });

  it('gives 100 concurrent attaches 100 different addresses', async () => {
    const netns = lab.container();
    const ids = [...Array(100).keys()].map((i) => `c${i}`);
    const endpoints = await Promise.all(
      ids.map((id, i) => netd.attach({ containerId: id, network: 'bridge', netnsPath: netns, interfaceName: `e${i}` })),
    );
    assert.equal(new Set(endpoints.map((e) => e.ips[0]!.address)).size, 100);
    await Promise.all(ids.map((id) => netd.detach(id)));
    assert.deepEqual(await netd.listEndpoints(), []);
    await netd.remove('bridge');
    assert.deepEqual(lab.hostState(), { links: [], table: '' });
  });
});
