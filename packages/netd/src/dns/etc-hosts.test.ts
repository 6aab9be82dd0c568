import { ErrorKind, isKind } from '@ctl/proto/errors';
import { strict as assert } from 'node:assert';
import { buildHosts, editHosts } from './etc-hosts';

const DEFAULTS =
  '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\n' +
  'ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n';

describe('/etc/hosts', () => {
  it("writes Docker's defaults, then --add-host entries, then the container's own addresses", () => {
    const text = buildHosts({
      hostname: 'web',
      addresses: ['172.20.0.2', 'fd00::2'],
      extraHosts: [
        { name: 'db', address: '192.0.2.10' },
        { name: 'gw', address: 'host-gateway' },
      ],
      hostGateway: '172.20.0.1',
    });
    assert.equal(text, `${DEFAULTS}192.0.2.10\tdb\n172.20.0.1\tgw\n172.20.0.2\tweb\nfd00::2\tweb\n`);
  });

  it('names the FQDN and its first label when the hostname has a domain', () => {
    assert.equal(
      buildHosts({ hostname: 'web', domainname: 'example.org', addresses: ['10.0.0.2'], noIpv6: true }),
      '127.0.0.1\tlocalhost\n10.0.0.2\tweb.example.org web\n',
    );
    assert.equal(buildHosts({ hostname: 'a.b.c', addresses: ['10.0.0.2'], noIpv6: true }), '127.0.0.1\tlocalhost\n10.0.0.2\ta.b.c a\n');
  });

  it('has only the defaults without a network of its own', () => {
    assert.equal(buildHosts({ hostname: 'lonely', addresses: [] }), DEFAULTS);
  });

  it('refuses host-gateway when there is no gateway', () => {
    assert.throws(
      () => buildHosts({ hostname: 'x', addresses: [], extraHosts: [{ name: 'gw', address: 'host-gateway' }] }),
      (err: unknown) => isKind(err, ErrorKind.InvalidArgument) && /gw:host-gateway/.test((err as Error).message),
    );
  });

  it("adds a connected network's addresses under the hostname and takes them out again, leaving the rest", () => {
    const before = buildHosts({
      hostname: 'web',
      addresses: ['172.20.0.2'],
      extraHosts: [{ name: 'db', address: '10.0.0.9' }],
      noIpv6: true,
    });
    const connected = editHosts(before, 'web', { add: ['10.79.0.2', 'fd00::5'] });
    assert.equal(connected, `${before}10.79.0.2\tweb\nfd00::5\tweb\n`);
    assert.equal(editHosts(connected, 'web', { remove: ['10.79.0.2', 'fd00::5'] }), before);
    // a line of that address for another name (an --add-host) stays
    assert.equal(editHosts(`${before}10.0.0.9\tweb2\n`, 'web', { remove: ['10.0.0.9'] }), `${before}10.0.0.9\tweb2\n`);
  });
});
