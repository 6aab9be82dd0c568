import { strict as assert } from 'node:assert';
import { formatAddress, formatPrefix, overlaps, parseAddress, parsePrefix } from './addr';
import { completeSubnet, pickSubnet } from './subnets';

describe('netd addresses and subnets', () => {
  it('reads and writes IPv4 and IPv6 addresses (RFC 5952 form)', () => {
    for (const a of [
      '172.17.0.2',
      '0.0.0.0',
      '255.255.255.255',
      'fd42::1',
      '::',
      '::1',
      'fd42:0:0:7::99',
      '1:2:3:4:5:6:7:8',
      '1::4:0:0:8',
    ]) {
      const { family, value } = parseAddress(a);
      assert.equal(formatAddress(family, value), a);
    }
    assert.equal(formatAddress(6, parseAddress('fd42:0000:0000:0007:0000:0000:0000:0001').value), 'fd42:0:0:7::1');
    assert.throws(() => parseAddress('1.2.3'), /invalid address "1\.2\.3"/);
  });

  it('clears host bits of a prefix and tells overlaps', () => {
    assert.equal(formatPrefix(parsePrefix('10.1.2.3/16')), '10.1.0.0/16');
    assert.ok(overlaps(parsePrefix('10.0.0.0/8'), parsePrefix('10.77.0.128/25')));
    assert.ok(!overlaps(parsePrefix('10.77.0.0/25'), parsePrefix('10.77.0.128/25')));
    assert.ok(!overlaps(parsePrefix('::/0'), parsePrefix('0.0.0.0/0')));
    assert.throws(() => parsePrefix('10.0.0.0'), /not in CIDR form/);
    assert.throws(() => parsePrefix('10.0.0.0/33'), /prefix length over 32/);
  });

  it('completes a subnet: the first address is the gateway, a given one must be a host address inside', () => {
    assert.deepEqual(completeSubnet({ subnet: '10.9.0.0/24' }, 4, 'n'), { subnet: '10.9.0.0/24', gateway: '10.9.0.1', ipRange: '' });
    assert.throws(() => completeSubnet({ subnet: '10.9.0.0/24', gateway: '10.9.0.255' }, 4, 'n'), /not a host address/);
    assert.throws(() => completeSubnet({ subnet: '10.9.0.0/24', ipRange: '10.9.1.0/28' }, 4, 'n'), /outside its subnet/);
    assert.throws(() => completeSubnet({ subnet: 'fd00::/64' }, 4, 'n'), /is not IPv4/);
  });

  it('picks the first candidate clear of networks and routes', () => {
    const taken = { ipv4: { subnet: '172.18.0.0/16', gateway: '172.18.0.1', ipRange: '' } };
    const network = {
      name: 'x',
      id: 'x',
      driver: 'bridge',
      internal: false,
      labels: {},
      options: {},
      createdAt: '',
      bridge: '',
      dns: true,
      ...taken,
    };
    const routes = [parsePrefix('172.19.4.0/24')];
    assert.equal(pickSubnet('y', ['172.18.0.0/16', '172.19.0.0/16', '172.20.0.0/16'], [network], routes), '172.20.0.0/16');
    assert.throws(() => pickSubnet('y', ['172.18.0.0/16'], [network], routes), /no free subnet left/);
  });
});
