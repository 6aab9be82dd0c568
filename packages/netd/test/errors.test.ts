/**
 * Bad input to netd's bridge networks: each is refused with an error of the right kind naming
 * the thing, and leaves nothing half-made (no veth, rule or address taken: the next attach gets
 * the address it would have had anyway).
 */
import { ErrorKind, errorKind } from '@ctl/proto';
import { waitFor } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import type { NetworksClient } from '../src/client';
import type { AttachRequest } from '../src/networks';
import { Lab } from './lab';

describe('netd refuses bad input, leaving nothing behind', function () {
  this.timeout(120_000);
  let lab: Lab;
  let netd: NetworksClient;
  let netns: string;
  let holder: string;

  before(async () => {
    lab = new Lab();
    netd = await lab.start();
    await netd.create({ name: 'n', ipv4: { subnet: '10.77.0.0/24' } });
    netns = lab.container();
    // One endpoint publishing 8080 and holding 10.77.0.2, so the next free address is .3.
    holder = lab.container();
    await netd.attach({ containerId: 'holder', network: 'n', netnsPath: holder, ports: [tcp(8080)] });
  });

  after(() => lab.close());

  const tcp = (hostPort: number) => ({ protocol: 'tcp' as const, hostIp: '', hostPort, containerPort: 80 });

  async function refused(what: Promise<unknown>, kind: ErrorKind, message: RegExp): Promise<void> {
    const before = lab.hostState();
    await assert.rejects(what, (err: Error) => {
      assert.equal(errorKind(err), kind, err.message);
      assert.match(err.message, message);
      return true;
    });
    assert.deepEqual(lab.hostState(), before, 'nothing of the host changed');
  }

  /** After a refused attach the next one gets .3, and detaching it leaves the host as it was. */
  async function nothingTaken(): Promise<void> {
    const before = lab.hostState();
    const e = await netd.attach({ containerId: 'probe', network: 'n', netnsPath: netns });
    assert.equal(e.ips[0]!.address, '10.77.0.3/24');
    await netd.detach('probe');
    // The veth goes after detach answers (the kernel is slow to delete links).
    await waitFor('the probe veth gone', () => (JSON.stringify(lab.hostState()) === JSON.stringify(before) ? true : undefined));
  }

  const attach = (extra: Partial<AttachRequest>) => netd.attach({ containerId: 'bad', network: 'n', netnsPath: netns, ...extra });

  it('an overlapping subnet names the other network', async () => {
    await refused(
      netd.create({ name: 'o', ipv4: { subnet: '10.77.0.128/25' } }),
      ErrorKind.InvalidArgument,
      /overlaps subnet 10\.77\.0\.0\/24 of network n/,
    );
  });

  it('a gateway outside its subnet', async () => {
    await refused(
      netd.create({ name: 'g', ipv4: { subnet: '10.78.0.0/24', gateway: '10.79.0.1' } }),
      ErrorKind.InvalidArgument,
      /gateway 10\.79\.0\.1 of network g is not a host address of its subnet 10\.78\.0\.0\/24/,
    );
    assert.deepEqual(
      (await netd.list()).map((n) => n.name),
      ['n'],
    );
  });

  it('an unknown driver, an unknown network, a taken name', async () => {
    await refused(netd.create({ name: 'd', driver: 'nope' }), ErrorKind.InvalidArgument, /unknown network driver "nope"/);
    await refused(
      netd.attach({ containerId: 'bad', network: 'missing', netnsPath: netns }),
      ErrorKind.NotFound,
      /network missing not found/,
    );
    await refused(netd.create({ name: 'n' }), ErrorKind.AlreadyExists, /network with name n already exists/);
  });

  it('a static address taken or outside the subnet', async () => {
    await refused(
      attach({ ipv4Address: '10.77.0.2' }),
      ErrorKind.AlreadyExists,
      /address 10\.77\.0\.2 is already in use on network n by container holder/,
    );
    await refused(
      attach({ ipv4Address: '10.99.0.5' }),
      ErrorKind.InvalidArgument,
      /address 10\.99\.0\.5 is outside subnet 10\.77\.0\.0\/24 of network n/,
    );
    await nothingTaken();
  });

  it('a host port already published, or bound by another process', async () => {
    await refused(
      attach({ ports: [tcp(8080)] }),
      ErrorKind.AlreadyExists,
      /host port 0\.0\.0\.0:8080\/tcp is already published by container holder/,
    );
    const listener = lab.children.spawn('ip', ['netns', 'exec', lab.host, 'busybox', 'nc', '-l', '-p', '8181']);
    await waitListening(lab, 8181);
    await refused(
      attach({ ports: [tcp(8181)] }),
      ErrorKind.FailedPrecondition,
      /host port 0\.0\.0\.0:8181\/tcp is already in use by a process on the host/,
    );
    await refused(
      attach({ ports: [{ ...tcp(8282), hostIp: '::1' }] }),
      ErrorKind.InvalidArgument,
      /host ip "::1" of a published port is not an IPv4/,
    );
    await refused(
      attach({ ports: [{ ...tcp(8282), hostIp: '10.1.2.3' }] }),
      ErrorKind.InvalidArgument,
      /host ip 10\.1\.2\.3 .* is not an address of this host/,
    );
    listener.process.kill('SIGKILL');
    await listener.exited;
    await nothingTaken();
  });

  it('a network namespace that does not exist', async () => {
    await refused(
      attach({ netnsPath: '/run/netns/ctl-no-such-netns' }),
      ErrorKind.NotFound,
      /network namespace \/run\/netns\/ctl-no-such-netns does not exist/,
    );
    await nothingTaken();
  });

  it('picks subnets clear of the host routes', async () => {
    const ip = (...args: string[]) => assert.equal(lab.exec(lab.host, ['ip', ...args]).status, 0, args.join(' '));
    ip('link', 'add', 'ctl-d0', 'type', 'bridge'); // not ours: it has no mark
    ip('addr', 'add', '172.17.3.1/24', 'dev', 'ctl-d0');
    ip('addr', 'add', '172.18.0.1/24', 'dev', 'ctl-d0');
    ip('link', 'set', 'ctl-d0', 'up');
    try {
      assert.equal((await netd.create({ name: 'bridge' })).ipv4?.subnet, '172.19.0.0/16');
      assert.equal((await netd.create({ name: 'other' })).ipv4?.subnet, '172.20.0.0/16');
    } finally {
      ip('link', 'del', 'ctl-d0');
    }
    await netd.remove('bridge');
    await netd.remove('other');
  });

  it('an interface name the netns has already', async () => {
    await refused(
      attach({ netnsPath: holder, interfaceName: 'eth0' }),
      ErrorKind.AlreadyExists,
      /interface eth0 already exists in network namespace .*-c1/,
    );
    await nothingTaken();
  });

  it('removing a network that has endpoints', async () => {
    await refused(netd.remove('n'), ErrorKind.FailedPrecondition, /network n has active endpoints \(holder\)/);
  });
});

async function waitListening(lab: Lab, port: number): Promise<void> {
  await waitFor(`a listener on ${port}`, () => (lab.exec(lab.host, ['ss', '-Hltn', `sport = :${port}`]).stdout.trim() ? true : undefined));
}
