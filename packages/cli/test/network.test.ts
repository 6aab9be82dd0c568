/**
 * Networking through `ctl` end to end: the daemon (and so netd's bridges and nftables rules)
 * runs in a network namespace this suite makes (`ip netns add`), which plays the host; traffic
 * goes only inside it. The namespace goes at the end with everything in it.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Children, waitFor } from '@ctl/proto/testing';
import { useEngine } from './engine';
import { makeTestNetns, networkSuitesRun, removeTestNetns, testNetns } from './netns';

const NET = testNetns('netcli');
const NETNS_FILE = NET.file;
const OUTWARD = NET.outward;
const inNetns = NET.run;
const MBIT = 1_000_000;

describe('ctl run with networks (root, a netns of its own)', function () {
  this.timeout(120_000);
  before(function () {
    if (!networkSuitesRun()) this.skip();
    makeTestNetns(NET);
  });
  const children = new Children();
  after(() => children.killAll()); // before the engine's: nothing of ours is left in the namespace
  const e = useEngine('netcli', { defaultNetwork: 'bridge', netns: () => NETNS_FILE });
  after(() => removeTestNetns(NET));

  const netnsFiles = (): string[] => {
    const dir = join(e.instance.state, 'netns', e.ns);
    return existsSync(dir) ? readdirSync(dir) : [];
  };

  it('--network none: loopback only, up, and the name files', () => {
    const out = e.ok(
      'run',
      '--rm',
      '--network',
      'none',
      '--hostname',
      'solo',
      'busybox',
      'sh',
      '-c',
      'ip -o link | cut -d: -f2; ping -c1 -W5 127.0.0.1 >/dev/null && echo reached; cat /etc/hostname; grep -c solo /etc/hosts || true',
    );
    assert.deepEqual(
      out.split('\n').map((l) => l.trim()),
      ['lo', 'reached', 'solo', '0', ''],
    );
  });

  it('the default bridge: an address, a default route, /etc/hosts with it, resolv.conf, and no netns left after --rm', () => {
    const out = e.ok(
      ...['run', '--rm', '--hostname', 'box', '--add-host', 'gw:host-gateway', '--add-host', 'db:10.9.9.9', '--dns-search', 'example.org'],
      ...['busybox', 'sh', '-c', "ip -4 -o addr show eth0 | awk '{print $4}'; ip route | grep ^default; cat /etc/hosts /etc/resolv.conf"],
    );
    const [cidr = '', route = '', ...files] = out.trim().split('\n');
    assert.match(cidr, /^172\.1[6-9]|2\d|3[01]\./, 'an address of the default bridge (172.16/12)');
    const gateway = /^default via (\S+)/.exec(route)?.[1];
    assert.ok(gateway, route);
    assert.ok(files.includes(`${gateway}\tgw`), 'host-gateway is the bridge gateway');
    assert.ok(files.includes('10.9.9.9\tdb'));
    assert.ok(files.includes(`${cidr.split('/')[0]}\tbox`), 'its own address under its hostname');
    assert.ok(files.some((l) => /^nameserver \S+/.test(l)));
    assert.ok(files.includes('search example.org'));
    assert.deepEqual(netnsFiles(), []);
  });

  it('two runs of one name at once: one is refused, and the other keeps its network', async () => {
    const runs = await Promise.all([1, 2].map(() => e.start('run', '-d', '--name', 'twin', 'busybox', 'sleep', '300')));
    assert.deepEqual(runs.map((r) => r.code === 0).sort(), [false, true], runs.map((r) => r.stderr).join(''));
    assert.match(runs.find((r) => r.code !== 0)!.stderr, /already in use/);
    const out = e.ok('exec', 'twin', 'sh', '-c', "ip -4 -o addr show eth0 | awk '{print $4}'; cat /etc/hosts");
    const [cidr = '', ...hosts] = out.trim().split('\n');
    assert.match(cidr, /^\d+\.\d+\.\d+\.\d+\/\d+$/, 'the winner has its address');
    assert.ok(
      hosts.some((l) => l.startsWith(`${cidr.split('/')[0]}\t`)),
      'and its /etc/hosts',
    );
    e.ok('rm', '-f', 'twin');
    assert.deepEqual(netnsFiles(), []);
  });

  it('publishes a port on 127.0.0.1 and the outward address of the host, keeps it across a restart, and undoes it at rm', () => {
    e.ok('run', '-d', '--name', 'web', '-p', '18080:80', 'busybox', 'httpd', '-f', '-p', '80', '-h', '/etc');
    assert.match(e.ok('ps'), /web .*0\.0\.0\.0:18080->80\/tcp/);
    assert.equal(e.ok('port', 'web'), '80/tcp -> 0.0.0.0:18080\n');
    assert.equal(e.ok('port', 'web', '80'), '0.0.0.0:18080\n');
    const settings = JSON.parse(e.ok('inspect', '-f', '{{json .NetworkSettings}}', 'web')) as {
      IPAddress: string;
      Networks: Record<string, { IPAddress: string; MacAddress: string; Gateway: string; IPPrefixLen: number }>;
      Ports: Record<string, unknown>;
    };
    assert.deepEqual(Object.keys(settings.Networks), ['bridge']);
    assert.equal(settings.Networks.bridge!.IPAddress, settings.IPAddress);
    assert.deepEqual(settings.Ports, { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '18080' }] });
    const fetch = (host: string) => inNetns('busybox', 'wget', '-qO-', `http://${host}:18080/hostname`);
    for (const host of ['127.0.0.1', OUTWARD]) assert.equal(fetch(host).stdout, 'web\n', host);
    e.ok('stop', '-t', '1', 'web');
    e.ok('start', 'web');
    const again = JSON.parse(e.ok('inspect', '-f', '{{json .NetworkSettings}}', 'web')) as typeof settings;
    assert.equal(again.IPAddress, settings.IPAddress, 'a restart keeps the address');
    assert.equal(fetch('127.0.0.1').stdout, 'web\n', 'and the published port');
    e.ok('rm', '-f', 'web');
    assert.notEqual(fetch('127.0.0.1').status, 0);
    assert.deepEqual(netnsFiles(), []);
    assert.deepEqual(JSON.parse(e.ok('network', 'inspect', 'bridge'))[0].Containers, {});
  });

  it('two containers on a user network reach each other by address, name and alias, as containers come and go', () => {
    e.ok('network', 'create', '--subnet', '10.77.0.0/24', 'front');
    e.ok(
      'run',
      '-d',
      '--name',
      'api',
      '--network',
      'front',
      '--network-alias',
      'backend',
      '--ip',
      '10.77.0.10',
      'busybox',
      'httpd',
      '-f',
      '-p',
      '80',
      '-h',
      '/etc',
    );
    const get = (target: string) => e.run('run', '--rm', '--network', 'front', 'busybox', 'wget', '-qO-', `http://${target}/hostname`);
    assert.equal(get('10.77.0.10').stdout, 'api\n');
    const resolver = e.ok('run', '--rm', '--network', 'front', '--dns', '192.0.2.53', 'busybox', 'cat', '/etc/resolv.conf');
    assert.match(resolver, /^nameserver 10\.77\.0\.1$/m, "netd's resolver on the gateway, and no other (--dns is its upstream)");
    assert.doesNotMatch(resolver, /192\.0\.2\.53/);
    assert.equal(get('api').stdout, 'api\n');
    assert.equal(get('backend').stdout, 'api\n');
    // another container takes the name: the answer follows
    e.ok('rm', '-f', 'api');
    e.ok('run', '-d', '--name', 'api', '--network', 'front', '--ip', '10.77.0.11', 'busybox', 'sleep', '300');
    const lookup = e.ok('run', '--rm', '--network', 'front', 'busybox', 'nslookup', 'api');
    assert.match(lookup, /^Address:\s*10\.77\.0\.11$/m, lookup);
    assert.doesNotMatch(lookup, /10\.77\.0\.10/);
    e.ok('rm', '-f', 'api');
    e.ok('network', 'rm', 'front');
  });

  it('connects a running container to a second network and disconnects it', () => {
    e.ok('network', 'create', '--subnet', '10.78.0.0/24', 'side');
    e.ok('run', '-d', '--name', 'multi', '--network', 'side', 'busybox', 'sleep', '300');
    e.ok('network', 'create', '--subnet', '10.79.0.0/24', 'extra');
    const connected = e.run('network', 'connect', '--alias', 'm2', 'extra', 'multi');
    assert.equal(connected.code, 0, connected.stderr);
    const address = /10\.79\.0\.\d+(?=\/)/.exec(e.ok('exec', 'multi', 'ip', '-4', '-o', 'addr'))?.[0];
    assert.ok(address, 'an address on the second network');
    assert.match(e.ok('exec', 'multi', 'ip', 'route'), /^default via 10\.78\.0\.1 dev eth0/m, 'the first network keeps the default route');
    assert.ok(e.ok('exec', 'multi', 'cat', '/etc/hosts').includes(`${address}\tmulti\n`), '/etc/hosts has the new address');
    const byAlias = e.ok('run', '--rm', '--network', 'extra', 'busybox', 'nslookup', 'm2');
    assert.match(byAlias, new RegExp(`^Address:\\s*${address.replace(/\./g, '\\.')}$`, 'm'), byAlias);
    const inspected = JSON.parse(e.ok('network', 'inspect', '-f', '{{json .Containers}}', 'extra')) as Record<
      string,
      { Aliases: string[] }
    >;
    assert.deepEqual(inspected.multi?.Aliases, ['m2']);
    e.ok('network', 'disconnect', 'extra', 'multi');
    assert.doesNotMatch(e.ok('exec', 'multi', 'ip', '-4', '-o', 'addr'), /10\.79\.0\./);
    assert.ok(!e.ok('exec', 'multi', 'cat', '/etc/hosts').includes(address), '/etc/hosts without it');
    assert.equal(e.run('network', 'disconnect', 'extra', 'multi').code, 1, 'not connected');
    e.ok('network', 'disconnect', '-f', 'extra', 'multi');
    assert.equal(e.run('network', 'rm', 'side').code, 1, 'refused while a container is connected');
    e.ok('rm', '-f', 'multi');
    e.ok('network', 'rm', 'side', 'extra');
    assert.doesNotMatch(e.ok('network', 'ls', '--format', '{{.Name}}'), /side|extra/);
  });

  it('limits a container to 1 mbit each way (within 30%, iperf3 against the host side), and inspect shows the limits', async () => {
    e.ok('run', '-d', '--name', 'shaped', '--network-egress-rate', '1mbit', '--network-ingress-rate', '1mbit', 'busybox', 'sleep', '300');
    const settings = JSON.parse(e.ok('inspect', '-f', '{{json .NetworkSettings.Networks.bridge}}', 'shaped')) as {
      Gateway: string;
      Bandwidth: { egressBps: number; ingressBps: number };
    };
    assert.deepEqual(settings.Bandwidth, { egressBps: MBIT, ingressBps: MBIT });
    const netns = join(e.instance.state, 'netns', e.ns, 'shaped');
    // the container's side: the host's iperf3 in its network namespace (the image has none)
    const rate = async (reverse: boolean): Promise<number> => {
      const server = children.spawn('nsenter', [`--net=${NETNS_FILE}`, 'iperf3', '-s', '-1', '--forceflush', '-B', settings.Gateway]);
      await waitFor('iperf3 listening', () => /Server listening/.test(server.output()) || undefined);
      const client = spawnSync(
        'nsenter',
        [`--net=${netns}`, 'iperf3', '-c', settings.Gateway, '-t', '4', '-J', ...(reverse ? ['-R'] : [])],
        {
          encoding: 'utf8',
          timeout: 60_000,
        },
      );
      await server.exited;
      return (JSON.parse(client.stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second;
    };
    for (const [direction, reverse] of [
      ['egress', false],
      ['ingress', true],
    ] as const) {
      const measured = await rate(reverse);
      assert.ok(Math.abs(measured / MBIT - 1) <= 0.3, `${direction}: ${(measured / MBIT).toFixed(3)} mbit/s against 1`);
    }
    e.ok('rm', '-f', 'shaped');
    // netd deletes the veth, and the ifb after it, once the detach has answered
    await waitFor('the shaper to go with the container', () => !/ifb-/.test(inNetns('ip', 'link', 'show').stdout) || undefined);
  });

  it('refuses bad network flags with usage errors (125) and makes nothing', () => {
    for (const argv of [
      ['--network', 'none', '-p', '80'],
      ['--network', 'host', '--network', 'front'],
      ['-p', '70000'],
      ['-p', '80/sctp'],
      ['--dns', 'resolver'],
      ['--add-host', 'justaname'],
      ['--ip', '10.1.1.300'],
      ['--network-egress-rate', 'fast'],
    ]) {
      const r = e.run('run', '--rm', ...argv, 'busybox', 'true');
      assert.equal(r.code, 125, `${argv.join(' ')}: ${r.stderr}`);
    }
    const missing = e.run('run', '--rm', '--network', 'nowhere', 'busybox', 'true');
    assert.equal(missing.code, 125, missing.stderr);
    assert.match(missing.stderr, /nowhere/);
    assert.equal(e.run('network', 'create', '--subnet', '10.1.0.0', 'bad').code, 125);
    assert.deepEqual(netnsFiles(), []);
    assert.deepEqual(e.containers(), []);
  });
});
