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

  it('keeps allocations and published ports across a SIGKILL, and makes the host match the records again', async () => {
    const { bridge } = await netd.create({ name: 'bridge' }, { ifNotExists: true });
    const [kept, gone] = [lab.container(), lab.container()];
    const port = { protocol: 'tcp' as const, hostIp: '', hostPort: 9090, containerPort: 90 };
    const ek = await netd.attach({ containerId: 'kept', network: 'bridge', netnsPath: kept, ports: [port] });
    const eg = await netd.attach({ containerId: 'gone', network: 'bridge', netnsPath: gone });
    const before = lab.hostState();
    await lab.kill();
    // While netd is down: a container's netns goes, our bridge and table are lost, a bridge of
    // ours that no record holds appears (as a crash mid-create would leave it).
    lab.removeNetns(gone);
    const host = (...args: string[]) => assert.equal(lab.exec(lab.host, args).status, 0, args.join(' '));
    host('ip', 'link', 'del', bridge);
    host('nft', 'delete', 'table', 'inet', lab.table);
    host('ip', 'link', 'add', 'ctl-stray', 'type', 'bridge');
    host('ip', 'link', 'set', 'ctl-stray', 'alias', `ctl-netd:${lab.table}`);
    netd = await lab.start();
    assert.deepEqual(
      (await netd.listEndpoints()).map((e) => e.containerId),
      ['kept'],
      'the endpoint whose netns is gone was released',
    );
    assert.deepEqual(lab.hostState(), { links: before.links.filter((l) => l !== eg.interface.hostName), table: before.table });
    assert.ok(lab.ping(kept, ek.ips[0]!.gateway), 'kept is on the bridge again');
    // kept's address stays kept; gone's is free again.
    const next = await netd.attach({ containerId: 'next', network: 'bridge', netnsPath: lab.container() });
    assert.equal(next.ips[0]!.address, eg.ips[0]!.address);
    await assert.rejects(
      netd.attach({ containerId: 'again', network: 'bridge', netnsPath: lab.container(), ports: [port] }),
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
