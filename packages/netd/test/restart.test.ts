/**
 * netd across crashes and under load: a SIGKILLed netd starts again with every address and
 * published port where it was, releases the endpoints whose netns went while it was down, and
 * gives 100 concurrent attaches 100 different addresses.
 */
import { strict as assert } from 'node:assert';
import type { NetworksClient } from '../src/client';
import { Lab } from './lab';

interface Qdisc {
  kind: string;
  handle: string;
  root?: boolean;
  options: { rate: number };
}

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

  it('keeps bandwidth limits across a SIGKILL as they were, makes lost ones again, and removes them with the endpoint', async () => {
    await netd.create({ name: 'shaped', ipv4: { subnet: '10.66.0.0/24' } });
    const netns = lab.container();
    const e = await netd.attach({
      containerId: 'shaped',
      network: 'shaped',
      netnsPath: netns,
      bandwidth: { egressBps: 1_000_000, ingressBps: 2_000_000 },
    });
    const veth = e.interface.hostName;
    const ifb = `ifb-${veth.slice('veth'.length)}`;
    const tbf = (dev: string) => {
      const qdiscs = JSON.parse(lab.exec(lab.host, ['tc', '-j', 'qdisc', 'show', 'dev', dev]).stdout || '[]') as Qdisc[];
      const root = qdiscs.find((q) => q.root && q.kind === 'tbf');
      return root && { handle: root.handle, bps: root.options.rate * 8 };
    };
    const shaped = { veth: tbf(veth), ifb: tbf(ifb) };
    assert.deepEqual([shaped.veth?.bps, shaped.ifb?.bps], [2_000_000, 1_000_000], 'ingress on the veth, egress on its ifb');
    assert.match(lab.exec(lab.host, ['ip', 'link', 'show', ifb]).stdout, new RegExp(`alias ctl-netd:${lab.table}`));

    await lab.kill();
    // a crash's leftover: an ifb of ours that no endpoint has
    assert.equal(lab.exec(lab.host, ['ip', 'link', 'add', 'ifb-stray', 'type', 'ifb']).status, 0);
    assert.equal(lab.exec(lab.host, ['ip', 'link', 'set', 'ifb-stray', 'alias', `ctl-netd:${lab.table}`]).status, 0);
    netd = await lab.start();
    assert.deepEqual({ veth: tbf(veth), ifb: tbf(ifb) }, shaped, 'the same qdiscs (handles), not made again');
    assert.ok(!lab.hostState().links.includes('ifb-stray'), 'the stray ifb went');

    await lab.kill();
    assert.equal(lab.exec(lab.host, ['tc', 'qdisc', 'del', 'dev', veth, 'root']).status, 0);
    netd = await lab.start();
    assert.deepEqual([tbf(veth)?.bps, tbf(ifb)?.bps], [2_000_000, 1_000_000], 'a lost limit is set again');

    await netd.detach('shaped');
    await netd.remove('shaped');
    assert.deepEqual(
      lab.hostState().links.filter((l) => l === veth || l.startsWith('ifb')),
      [],
      'no veth or ifb left',
    );
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
