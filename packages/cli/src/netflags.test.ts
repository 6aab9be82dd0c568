import { strict as assert } from 'node:assert';
import { UsageError } from './args';
import { parsePublish, parseRate } from './netflags';
import { containerConfig, parseRunArgs } from './runflags';

const config = (env: NodeJS.ProcessEnv, ...argv: string[]) => containerConfig(parseRunArgs([...argv, 'busybox', 'sh']), env);

describe('run network flags', () => {
  it("joins docker's default bridge unless told otherwise (CTL_DEFAULT_NETWORK, --network)", () => {
    assert.deepEqual(
      config({}).networking?.networks?.map((n) => n.network),
      ['bridge'],
    );
    assert.deepEqual(config({ CTL_DEFAULT_NETWORK: 'none' }).networking?.networks, []);
    assert.equal(config({ CTL_DEFAULT_NETWORK: 'none' }).namespaces?.network, 'NONE');
    const c = config(
      {},
      '--network',
      'front',
      '--network',
      'back',
      '--ip',
      '10.1.0.5',
      '--network-alias',
      'web',
      '--mac-address',
      '02:42:0a:01:00:05',
    );
    assert.deepEqual(c.networking?.networks, [
      { network: 'front', aliases: ['web'], ipv4Address: '10.1.0.5', ipv6Address: '', macAddress: '02:42:0a:01:00:05' },
      { network: 'back' },
    ]);
    assert.deepEqual(config({}, '--network', 'host').namespaces, { network: 'HOST' });
    assert.deepEqual(config({}, '--network', 'container:web').namespaces, { network: 'CONTAINER', networkContainer: 'web' });
  });

  it('parses -p as docker does: IP, host port, ranges, protocol, IPv6 in brackets', () => {
    assert.deepEqual(parsePublish('80'), [{ protocol: 'tcp', hostIp: '', hostPort: 0, containerPort: 80 }]);
    assert.deepEqual(parsePublish('8080:80/udp'), [{ protocol: 'udp', hostIp: '', hostPort: 8080, containerPort: 80 }]);
    assert.deepEqual(parsePublish('127.0.0.1::80'), [{ protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 0, containerPort: 80 }]);
    assert.deepEqual(parsePublish('[::1]:8080:80'), [{ protocol: 'tcp', hostIp: '::1', hostPort: 8080, containerPort: 80 }]);
    assert.deepEqual(
      parsePublish('8000-8001:80-81').map((p) => [p.hostPort, p.containerPort]),
      [
        [8000, 80],
        [8001, 81],
      ],
    );
    assert.deepEqual(parsePublish('8000-8002:80'), [{ protocol: 'tcp', hostIp: '', hostPort: 8000, hostPortEnd: 8002, containerPort: 80 }]);
    assert.deepEqual(parsePublish('::1:8080:80/'), [{ protocol: 'tcp', hostIp: '::1', hostPort: 8080, containerPort: 80 }]);
    assert.deepEqual(parsePublish('[::1]::80'), [{ protocol: 'tcp', hostIp: '::1', hostPort: 0, containerPort: 80 }]);
    assert.deepEqual(parsePublish(':80'), [{ protocol: 'tcp', hostIp: '', hostPort: 0, containerPort: 80 }]);
    assert.deepEqual(
      parsePublish('127.0.0.1:8000-8001:80-81').map((p) => [p.hostIp, p.hostPort, p.containerPort]),
      [
        ['127.0.0.1', 8000, 80],
        ['127.0.0.1', 8001, 81],
      ],
    );
    for (const bad of [
      '8000-8002:80-81',
      '8080:80-81',
      'x:80',
      '80/sctp',
      '70000',
      '1.2.3:80:80',
      ':80:',
      '8080:',
      '[::1]:80',
      '8002-8000:80',
    ])
      assert.throws(() => parsePublish(bad), UsageError, bad);
  });

  it('takes DNS, hosts, expose and rates; refuses what docker refuses with a usage error', () => {
    const c = config(
      {},
      ...['--dns', '10.0.0.2', '--dns-search', 'example.org', '--dns-option', 'ndots:2', '--add-host', 'db:10.0.0.9'],
      ...[
        '--add-host',
        'gw:host-gateway',
        '--expose',
        '7000-7001/udp',
        '-P',
        '--network-egress-rate',
        '1mbit',
        '--network-ingress-rate',
        '500kbit',
      ],
    );
    assert.deepEqual(c.networking?.dns, ['10.0.0.2']);
    assert.deepEqual(c.networking?.extraHosts, [
      { host: 'db', ip: '10.0.0.9' },
      { host: 'gw', ip: 'host-gateway' },
    ]);
    assert.deepEqual(c.networking?.expose, ['7000/udp', '7001/udp']);
    assert.equal(c.networking?.publishAll, true);
    assert.deepEqual([c.networking?.egressBps, c.networking?.ingressBps], [1e6, 5e5]);
    assert.equal(parseRate('1.5gbit', 'x'), 1.5e9);
    const usage = (...argv: string[]) => assert.throws(() => config({}, ...argv), UsageError, argv.join(' '));
    usage('--network', 'none', '--network', 'front');
    usage('--network', 'host', '-p', '80');
    usage('--network', 'none', '--ip', '10.0.0.2');
    usage('--network', 'container:', 'x');
    usage('--network', 'container:web', '--dns', '1.1.1.1');
    usage('--dns', 'resolver');
    usage('--add-host', 'db');
    usage('--add-host', 'db:nowhere');
    usage('--ip', '::1');
    usage('--network-egress-rate', '1mbyte');
    usage('--expose', 'http');
  });
});
