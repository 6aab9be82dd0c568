/**
 * A container's network across what can take it away: a host reboot (simulated: its netns file
 * unmounted and removed, as an emptied /run leaves it), netd losing its endpoint, removal through
 * containerd's own Containers API (`ctr c rm`), and `ctl system check` finding what is left over;
 * and docker's -p forms. The daemon runs in a network namespace of the suite's own (test/netns.ts).
 */
import { ContainersClient, TasksClient } from '@ctl/containerd-lite/client';
import { NetworksClient } from '@ctl/netd/client';
import { WireClient, serviceSocket } from '@ctl/proto';
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useEngine } from './engine';
import { stopDaemons } from './helpers';
import { makeTestNetns, networkSuitesRun, removeTestNetns, testNetns } from './netns';

const NET = testNetns('netrestore', '192.0.2.2');
/** A web server answering its hostname at /hostname. */
const HTTPD = ['busybox', 'httpd', '-f', '-p', '80', '-h', '/etc'];

describe('a container network lost and found (root, a netns of its own)', function () {
  this.timeout(120_000);
  before(function () {
    if (!networkSuitesRun()) this.skip();
    makeTestNetns(NET);
  });
  const e = useEngine('netrestore', { defaultNetwork: 'bridge', netns: () => NET.file });
  after(() => removeTestNetns(NET));
  let wire: WireClient | undefined;
  const netd = (): NetworksClient => new NetworksClient((wire ??= new WireClient(serviceSocket(e.instance, 'netd'))), e.ns);
  after(() => wire?.close());

  const netnsFile = (id: string) => join(e.instance.state, 'netns', e.ns, id);
  const fetch = (port: number) => NET.run('busybox', 'wget', '-qO-', `http://127.0.0.1:${port}/hostname`).stdout;
  const check = () => {
    const r = e.run('system', 'check');
    return r.code === 0 ? [] : r.stdout.trim().split('\n');
  };

  it('starts a stopped container again after a reboot took its netns, and after netd lost its endpoint', async () => {
    e.ok('run', '-d', '--name', 'web', '-p', '18090:80', ...HTTPD);
    assert.equal(fetch(18090), 'web\n');
    e.ok('stop', '-t', '1', 'web');
    execFileSync('umount', [netnsFile('web')]);
    rmSync(netnsFile('web'));
    e.ok('start', 'web');
    assert.equal(fetch(18090), 'web\n', 'its port published again on its new netns');
    const address = e.ok('inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'web').trim();
    assert.match(e.ok('exec', 'web', 'cat', '/etc/hosts'), new RegExp(`\n${address.replace(/\./g, '\\.')}\tweb\n`));
    e.ok('stop', '-t', '1', 'web');
    await netd().detach('web');
    e.ok('start', 'web');
    assert.equal(fetch(18090), 'web\n', 'attached again in the same netns');
    assert.equal((await netd().listEndpoints({ containerId: 'web' })).length, 1);
    assert.deepEqual(check(), []);
    e.ok('rm', '-f', 'web');
    assert.equal(existsSync(netnsFile('web')), false);
  });

  it('makes the networks that network connect added, and not those it disconnected, again after a reboot took the netns', () => {
    e.ok('network', 'create', '--subnet', '10.81.0.0/24', 'later');
    e.ok('run', '-d', '--name', 'joiner', 'busybox', 'sleep', '300');
    e.ok('network', 'connect', 'later', 'joiner');
    const reboot = (): void => {
      e.ok('stop', '-t', '0', 'joiner');
      execFileSync('umount', [netnsFile('joiner')]);
      rmSync(netnsFile('joiner'));
      e.ok('start', 'joiner');
    };
    reboot();
    const addresses = e.ok('exec', 'joiner', 'ip', '-4', '-o', 'addr');
    assert.match(addresses, /eth1\s+inet 10\.81\.0\.\d+\//, addresses);
    assert.match(addresses, /eth0\s+inet 172\.17\.\d+\.\d+\//, addresses);
    e.ok('network', 'disconnect', 'later', 'joiner');
    reboot();
    assert.doesNotMatch(e.ok('exec', 'joiner', 'ip', '-4', '-o', 'addr'), /10\.81\.0\./);
    e.ok('rm', '-f', 'joiner');
    e.ok('network', 'rm', 'later');
  });

  it('releases the network of a container removed through containerd’s Containers API (as `ctr c rm` does)', async () => {
    e.ok('run', '--name', 'byapi', 'busybox', 'true');
    assert.ok(existsSync(netnsFile('byapi')));
    const lite = new WireClient(serviceSocket(e.instance, 'containerd-lite'));
    try {
      // containerd's order: the (exited) task first, then the container
      await new TasksClient(lite, e.ns).delete('byapi');
      await new ContainersClient(lite, e.ns).delete('byapi');
    } finally {
      lite.close();
    }
    assert.equal(existsSync(netnsFile('byapi')), false, 'no netns file left');
    assert.deepEqual(await netd().listEndpoints({ containerId: 'byapi' }), [], 'no endpoint left');
    assert.deepEqual(check(), []);
  });

  it('system check finds netns files and endpoints of no container and a running container without its netns', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctl-netrestore-'));
    const strayNetns = join(dir, 'ns');
    try {
      writeFileSync(netnsFile('ghost'), '');
      writeFileSync(strayNetns, '');
      execFileSync('unshare', [`--net=${strayNetns}`, 'true']);
      await netd().attach({ containerId: 'phantom', network: 'bridge', netnsPath: strayNetns });
      e.ok('run', '-d', '--name', 'bare', 'busybox', 'sleep', '300');
      execFileSync('umount', [netnsFile('bare')]);
      rmSync(netnsFile('bare'));
      const found = check();
      assert.ok(
        found.some((l) => l.startsWith(`netns ${e.ns} ${netnsFile('ghost')}:`)),
        found.join('\n'),
      );
      assert.ok(
        found.some((l) => l.startsWith(`endpoint ${e.ns} phantom:`)),
        found.join('\n'),
      );
      assert.ok(
        found.some((l) => l.startsWith(`netns ${e.ns} bare: its network namespace is gone while its task runs`)),
        found.join('\n'),
      );
    } finally {
      await netd()
        .detach('phantom')
        .catch(() => undefined);
      rmSync(netnsFile('ghost'), { force: true });
      if (existsSync(strayNetns)) spawnSync('umount', [strayNetns]);
      rmSync(dir, { recursive: true, force: true });
      e.run('rm', '-f', 'bare');
    }
    assert.deepEqual(check(), []);
  });

  it('releases at its next start the network an earlier run made for a container it never recorded (killed in between)', async () => {
    // What a create leaves when containerd-lite dies after the network's set-up, before the record.
    const netns = netnsFile('unrecorded');
    writeFileSync(netns, '');
    execFileSync('unshare', [`--net=${netns}`, 'true']);
    await netd().attach({ containerId: 'unrecorded', network: 'bridge', netnsPath: netns });
    assert.notDeepEqual(check(), [], 'system check sees it while this run lasts');
    await stopDaemons(e.instance);
    e.ok('version');
    assert.deepEqual(check(), []);
    assert.equal(existsSync(netns), false, 'its netns file is gone');
    assert.deepEqual(await netd().listEndpoints({ containerId: 'unrecorded' }), [], 'its endpoint is gone');
  });

  it('takes docker’s -p forms: a host range for one port takes a free one of it, no host port, a host address', () => {
    e.ok('run', '-d', '--name', 'p1', '-p', '18100:80', ...HTTPD);
    e.ok('run', '-d', '--name', 'p2', '-p', '18100-18102:80', '-p', '127.0.0.1::81', '-p', '82', ...HTTPD);
    const ports = e.ok('port', 'p2').trim().split('\n');
    assert.equal(ports[0], '80/tcp -> 0.0.0.0:18101', 'the first free port of the range (18100 is p1’s)');
    assert.match(ports[1] ?? '', /^81\/tcp -> 127\.0\.0\.1:\d+$/);
    assert.match(ports[2] ?? '', /^82\/tcp -> 0\.0\.0\.0:\d+$/);
    assert.equal(fetch(18101), 'p2\n');
    const full = e.run('run', '-d', '--name', 'p3', '-p', '18100-18101:80', 'busybox', 'true');
    assert.equal(full.code, 125, full.stderr);
    assert.match(full.stderr, /18100-18101\/tcp/);
    const v6 = e.run('run', '--rm', '-p', '[::1]:18110:80', 'busybox', 'true');
    assert.equal(v6.code, 125, v6.stderr);
    assert.match(v6.stderr, /::1.*IPv4/);
    for (const bad of ['18100:80-81', '18102-18100:80', '[::1]:80', '80/sctp']) {
      const r = e.run('run', '--rm', '-p', bad, 'busybox', 'true');
      assert.equal(r.code, 125, `${bad}: ${r.stderr}`);
    }
    e.ok('rm', '-f', 'p1', 'p2');
    assert.deepEqual(e.containers(), []);
  });
});
