import { strict as assert } from 'node:assert';
import { netDevTotals, networkSettings, portLines, portsText } from './network';

const ports = [
  { protocol: 'tcp' as const, hostIp: '', hostPort: 8080, containerPort: 80 },
  { protocol: 'udp' as const, hostIp: '127.0.0.1', hostPort: 5353, containerPort: 53 },
];

describe("a container's network as docker shows it", () => {
  it('PORTS, port lines and NetworkSettings', () => {
    assert.equal(portsText(ports), '0.0.0.0:8080->80/tcp, 127.0.0.1:5353->53/udp');
    assert.deepEqual(portLines(ports), ['80/tcp -> 0.0.0.0:8080', '53/udp -> 127.0.0.1:5353']);
    assert.deepEqual(portLines(ports, { port: 53, protocol: 'udp' }), ['127.0.0.1:5353']);
    assert.deepEqual(portLines(ports, { port: 53, protocol: 'tcp' }), []);
    const endpoint = {
      containerId: 'web',
      network: 'front',
      networkId: 'a'.repeat(64),
      name: 'web',
      aliases: ['www'],
      netnsPath: '/run/x',
      interface: { name: 'eth0', macAddress: '02:42:0a:4d:00:02', hostName: 'veth1' },
      ips: [{ address: '10.77.0.2/24', gateway: '10.77.0.1' }],
      routes: [],
      dns: { nameservers: [], search: [], options: [] },
      ports,
      bandwidth: { egressBps: 0, ingressBps: 0 },
      createdAt: '',
    };
    const s = networkSettings('front', ports, [endpoint]) as { Networks: Record<string, Record<string, unknown>> } & Record<
      string,
      unknown
    >;
    assert.deepEqual([s.IPAddress, s.Gateway, s.IPPrefixLen, s.MacAddress], ['10.77.0.2', '10.77.0.1', 24, '02:42:0a:4d:00:02']);
    assert.deepEqual(s.Ports, {
      '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }],
      '53/udp': [{ HostIp: '127.0.0.1', HostPort: '5353' }],
    });
    assert.deepEqual([s.Networks.front!.IPAddress, s.Networks.front!.Aliases], ['10.77.0.2', ['www']]);
    assert.deepEqual(networkSettings('none', [], []), {
      NetworkMode: 'none',
      Gateway: '',
      IPAddress: '',
      IPPrefixLen: 0,
      MacAddress: '',
      Ports: {},
      Networks: {},
    });
  });

  it("NET I/O: /proc/net/dev's byte counters less loopback", () => {
    const text = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0
  eth0:    3176      30    0    0    0     0          0         0     2048      20    0    0    0     0       0          0
  eth1:      24       1    0    0    0     0          0         0        0       0    0    0    0     0       0          0
`;
    assert.deepEqual(netDevTotals(text), { rx: 3200, tx: 2048 });
  });
});
