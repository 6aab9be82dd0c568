import { ErrorKind, isKind } from '@ctl/proto/errors';
import { type Child, Children, waitFor } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { clearBandwidth, ifbName, limitBandwidth } from '../src/bandwidth';
import { Netns, describeInOwnNetns, ip, vethPair } from './netns';

const MBIT = 1_000_000;
/** The window for a limited rate. */
const TOLERANCE = 0.3;
const IPERF_PORT = '5201';

describeInOwnNetns('bandwidth limits (tc on the host side of a veth)', __filename, () => {
  const children = new Children();
  let limited: Netns;
  let other: Netns;

  before(() => {
    limited = new Netns('c');
    other = new Netns('c');
    vethPair('vethlimited', limited, '10.77.1.1', '10.77.1.2');
    vethPair('vethother', other, '10.77.2.1', '10.77.2.2');
  });
  after(async () => {
    await children.killAll();
    limited?.remove();
    other?.remove();
  });

  /** iperf3 from the container to the host (its egress) or back (-R, its ingress): the receiver's bits per second. */
  async function measure(container: Netns, hostAddress: string, direction: 'egress' | 'ingress', amount: string[]): Promise<number> {
    const server = children.spawn('iperf3', ['-s', '-1', '--forceflush', '-B', hostAddress, '-p', IPERF_PORT]);
    await waitForOutput(server, /Server listening/);
    const reverse = direction === 'ingress' ? ['-R'] : [];
    const report = JSON.parse(container.exec('iperf3', '-c', hostAddress, '-p', IPERF_PORT, '-J', ...reverse, ...amount)) as {
      end: { sum_received: { bits_per_second: number } };
    };
    await server.exited;
    return report.end.sum_received.bits_per_second;
  }

  function assertNear(measured: number, limit: number, what: string): void {
    const ratio = measured / limit;
    assert.ok(Math.abs(ratio - 1) <= TOLERANCE, `${what}: ${(measured / MBIT).toFixed(3)} mbit/s against a limit of ${limit / MBIT}`);
  }

  /** Far above any limit set here: the veth is not shaped. */
  async function assertUnlimited(container: Netns, hostAddress: string, direction: 'egress' | 'ingress'): Promise<void> {
    const rate = await measure(container, hostAddress, direction, ['-n', '20M']);
    assert.ok(rate > 20 * MBIT, `${direction} is ${(rate / MBIT).toFixed(1)} mbit/s, still limited`);
  }

  it('holds a 1 mbit limit within 30% both ways, and leaves another veth alone', async () => {
    await limitBandwidth('vethlimited', { egressBps: MBIT, ingressBps: MBIT });
    assertNear(await measure(limited, '10.77.1.1', 'egress', ['-t', '4']), MBIT, 'egress');
    assertNear(await measure(limited, '10.77.1.1', 'ingress', ['-t', '4']), MBIT, 'ingress');
    await assertUnlimited(other, '10.77.2.1', 'egress');
    await assertUnlimited(other, '10.77.2.1', 'ingress');
  });

  it('limits one direction alone', async () => {
    await limitBandwidth('vethlimited', { egressBps: 0, ingressBps: MBIT });
    assert.deepEqual(ourDevices('vethlimited'), { root: 'tbf', ingress: false, ifb: false });
    await assertUnlimited(limited, '10.77.1.1', 'egress');
  });

  it('replaces earlier limits', async () => {
    await limitBandwidth('vethlimited', { egressBps: MBIT, ingressBps: MBIT });
    await limitBandwidth('vethlimited', { egressBps: 2 * MBIT, ingressBps: 3 * MBIT });
    assert.match(ip('-d', 'link', 'show', ifbName('vethlimited')), /ifb/);
    assert.match(tc('qdisc', 'show', 'dev', 'vethlimited'), /tbf .*rate 3Mbit/);
    assert.match(tc('qdisc', 'show', 'dev', ifbName('vethlimited')), /tbf .*rate 2Mbit/);
  });

  it('clears every qdisc and the ifb it made, again and again, and then the veth is not shaped', async () => {
    await limitBandwidth('vethlimited', { egressBps: MBIT, ingressBps: MBIT });
    await clearBandwidth('vethlimited');
    await clearBandwidth('vethlimited');
    assert.deepEqual(ourDevices('vethlimited'), { root: undefined, ingress: false, ifb: false });
    assert.doesNotMatch(ip('link', 'show'), /ifb/);
    await assertUnlimited(limited, '10.77.1.1', 'egress');
    await assertUnlimited(limited, '10.77.1.1', 'ingress');
  });

  it('clears an interface that is gone without an error, and refuses to limit one with NotFound, leaving nothing', async () => {
    await clearBandwidth('vethmissing');
    await assert.rejects(limitBandwidth('vethmissing', { egressBps: MBIT, ingressBps: MBIT }), (err) => isKind(err, ErrorKind.NotFound));
    assert.doesNotMatch(ip('link', 'show'), /ifb/);
  });

  it('names ifb devices apart from the host’s own (ifb0, ifb1) and within 15 characters', () => {
    assert.equal(ifbName('veth0'), 'ifb-0');
    assert.equal(ifbName('veth1234567abcd'), 'ifb-1234567abcd');
    const long = ifbName('a-long-iface-xy');
    assert.ok(long.startsWith('ifb-') && long.length === 15 && long !== ifbName('a-long-iface-xz'));
  });
});

function tc(...args: string[]): string {
  return execFileSync('tc', args, { encoding: 'utf8' });
}

/** What of ours is on a veth: its root qdisc's kind (none for the veth's default), an ingress qdisc, the ifb. */
function ourDevices(hostInterface: string): { root: string | undefined; ingress: boolean; ifb: boolean } {
  const qdiscs = JSON.parse(tc('-j', 'qdisc', 'show', 'dev', hostInterface)) as { kind: string; root?: boolean }[];
  const root = qdiscs.find((qdisc) => qdisc.root)?.kind;
  const ifb = execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' }).includes(`"${ifbName(hostInterface)}"`);
  return { root: root === 'noqueue' ? undefined : root, ingress: qdiscs.some((qdisc) => qdisc.kind === 'ingress'), ifb };
}

function waitForOutput(child: Child, pattern: RegExp): Promise<true> {
  return waitFor(`output ${pattern}`, () => pattern.test(child.output()) || undefined);
}
