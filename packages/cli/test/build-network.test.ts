/**
 * `ctl build --network` for RUN steps: on the engine's default network (the bridge) a step has
 * an eth0 with an address of the bridge's subnet and a default route, and after the build
 * nothing of it is left (no veth, no netns file, no attachment on the network); with
 * --network none a step has only lo. The daemon (and so netd's bridge and rules) runs in a
 * network namespace this suite makes, which plays the host (see netns.ts): the host's own
 * network is never touched.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '@ctl/proto/testing';
import { useEngine } from './engine';
import { builder } from './build-helpers';
import { makeTestNetns, networkSuitesRun, removeTestNetns, testNetns } from './netns';

const NET = testNetns('buildnet');

/** Whether the IPv4 address is in the subnet (a.b.c.d/n). */
function inSubnet(address: string, subnet: string): boolean {
  const toNumber = (ip: string): number => ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
  const [base = '', bits = '32'] = subnet.split('/');
  const size = 2 ** (32 - Number(bits));
  return Math.floor(toNumber(address) / size) === Math.floor(toNumber(base) / size);
}

describe('ctl build --network (root, a netns of its own)', function () {
  this.timeout(120_000);
  before(function () {
    if (!networkSuitesRun()) this.skip();
    makeTestNetns(NET);
  });
  afterEach(() => ctl.nothingLeft());
  const e = useEngine('buildnet', { defaultNetwork: 'bridge', netns: () => NET.file });
  const ctl = builder(e);
  after(() => removeTestNetns(NET));

  /** ctl build in the suite's netns (ctl.build runs on the host's network, always with --network none). */
  const build = async (...args: string[]): Promise<void> => {
    const run = await e.start('build', '--progress', 'plain', ...args);
    assert.equal(run.code, 0, run.stderr);
  };
  const cat = (image: string, path: string): string => e.ok('run', '--rm', '--network', 'none', image, 'cat', path);
  const netnsFiles = (): string[] => {
    const dir = join(e.instance.state, 'netns', e.ns);
    return existsSync(dir) ? readdirSync(dir) : [];
  };
  /** The veths in the suite's namespace (its own out0/out1 pair, and any a container's attach made). */
  const veths = (): string[] =>
    NET.run('ip', '-o', 'link', 'show', 'type', 'veth')
      .stdout.split('\n')
      .filter(Boolean)
      .map((l) => l.split(':')[1]!.trim().split('@')[0]!)
      .sort();

  it('--network default: eth0 with an address of the default bridge and a default route; nothing of it left after', async () => {
    const dir = ctl.context('bridged', {
      Dockerfile: [
        'FROM busybox',
        "RUN ip -4 -o addr show eth0 | awk '{ print $4 }' > /addr && ip route | awk '/^default/ { print $3 }' > /gateway",
        '',
      ].join('\n'),
    });
    await build('--network', 'default', '-t', 'bridged', dir);
    const [cidr = ''] = cat('bridged', '/addr').trim().split('\n');
    const gateway = cat('bridged', '/gateway').trim();
    const [bridge] = JSON.parse(e.ok('network', 'inspect', 'bridge')) as {
      IPAM: { Config: { Subnet: string; Gateway: string }[] };
      Containers: Record<string, unknown>;
    }[];
    const subnet = bridge!.IPAM.Config.find((c) => c.Subnet.includes('.'))!;
    assert.match(cidr, /^\d+\.\d+\.\d+\.\d+\/\d+$/, 'eth0 had an IPv4 address');
    assert.ok(inSubnet(cidr.split('/')[0]!, subnet.Subnet), `${cidr} is in the default bridge's ${subnet.Subnet}`);
    assert.equal(gateway, subnet.Gateway, 'the default route goes through the bridge');

    assert.deepEqual(bridge!.Containers, {}, 'the step’s attachment (and its address) is gone');
    assert.deepEqual(netnsFiles(), [], 'and its netns');
    // netd deletes the veth once the detach has answered
    await waitFor('the step’s veth to go', () => veths().join() === 'out0,out1' || undefined);
  });

  it('--network none: a step sees only lo', async () => {
    const dir = ctl.context('isolated', { Dockerfile: "FROM busybox\nRUN ip -o link | awk -F': ' '{ print $2 }' > /links\n" });
    await build('--network', 'none', '-t', 'isolated', dir);
    assert.equal(cat('isolated', '/links'), 'lo\n');
    assert.deepEqual(netnsFiles(), []);
  });
});
