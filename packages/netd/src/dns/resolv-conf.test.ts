import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ResolvConf, buildResolvConf, isLoopbackAddress, parseResolvConf, readResolvConf } from './resolv-conf';

const host = (nameservers: string[], search: string[] = ['corp.example'], options: string[] = ['timeout:2']): ResolvConf => ({
  nameservers,
  search,
  options,
});

describe('resolv.conf', () => {
  it('parses every nameserver, the last search/domain line and all options, skipping comments', () => {
    const conf = parseResolvConf(
      [
        '# generated',
        'nameserver 127.0.0.53',
        'nameserver 10.0.0.2 ; trailing comment',
        'nameserver fe80::1%eth0',
        'domain old.example',
        'search a.example b.example',
        'options ndots:2',
        'options rotate edns0',
        'sortlist 10.0.0.0',
      ].join('\n'),
    );
    assert.deepEqual(conf, {
      nameservers: ['127.0.0.53', '10.0.0.2', 'fe80::1%eth0'],
      search: ['a.example', 'b.example'],
      options: ['ndots:2', 'rotate', 'edns0'],
    });
  });

  it('reads a file by path, and a missing file as an empty one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'resolv-'));
    try {
      writeFileSync(join(dir, 'resolv.conf'), 'nameserver 192.0.2.1\nsearch x.example\n');
      assert.deepEqual(await readResolvConf(join(dir, 'resolv.conf')), { nameservers: ['192.0.2.1'], search: ['x.example'], options: [] });
      assert.deepEqual(await readResolvConf(join(dir, 'absent')), { nameservers: [], search: [], options: [] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('knows loopback addresses of both families', () => {
    for (const address of ['127.0.0.1', '127.0.0.53', '127.255.0.9', '::1', '0:0:0:0:0:0:0:1'])
      assert.ok(isLoopbackAddress(address), address);
    for (const address of ['10.0.0.1', '128.0.0.1', '::2', 'fe80::1', 'not-an-ip']) assert.ok(!isLoopbackAddress(address), address);
  });

  it("drops the host's loopback and (without IPv6) IPv6 servers for a container with its own netns", () => {
    const built = buildResolvConf({ host: host(['127.0.0.53', '10.0.0.2', '2001:db8::53']) });
    assert.equal(built.text, 'nameserver 10.0.0.2\nsearch corp.example\noptions timeout:2\n');
    assert.deepEqual(built.upstreams, ['10.0.0.2']);
    const withV6 = buildResolvConf({ host: host(['127.0.0.53', '10.0.0.2', '2001:db8::53']), ipv6: true });
    assert.deepEqual(withV6.upstreams, ['10.0.0.2', '2001:db8::53']);
  });

  it("falls back to Google's servers only when no host server is left", () => {
    assert.deepEqual(buildResolvConf({ host: host(['127.0.0.1', '::1']) }).upstreams, ['8.8.8.8', '8.8.4.4']);
    assert.deepEqual(buildResolvConf({ host: host([]), ipv6: true }).upstreams, [
      '8.8.8.8',
      '8.8.4.4',
      '2001:4860:4860::8888',
      '2001:4860:4860::8844',
    ]);
  });

  it("keeps the host's file as it is on the host network", () => {
    const built = buildResolvConf({ host: host(['127.0.0.53', '2001:db8::53']), hostNetwork: true });
    assert.equal(built.text, 'nameserver 127.0.0.53\nnameserver 2001:db8::53\nsearch corp.example\noptions timeout:2\n');
  });

  it('lets --dns, --dns-search and --dns-option replace the host lists; a search of "." means none', () => {
    const built = buildResolvConf({
      host: host(['10.0.0.2']),
      hostNetwork: true,
      dns: ['192.0.2.53'],
      dnsSearch: ['.'],
      dnsOptions: ['ndots:3', 'attempts:1'],
    });
    assert.equal(built.text, 'nameserver 192.0.2.53\noptions ndots:3 attempts:1\n');
    const searchOnly = buildResolvConf({ host: host(['10.0.0.2']), dnsSearch: ['svc.example'] });
    assert.equal(searchOnly.text, 'nameserver 10.0.0.2\nsearch svc.example\noptions timeout:2\n');
  });

  it("names only the network's resolver, with ndots:0, and gives it the host's servers, loopback included", () => {
    const built = buildResolvConf({ host: host(['127.0.0.53', '10.0.0.2']), resolver: '172.20.0.1' });
    assert.equal(built.text, 'nameserver 172.20.0.1\nsearch corp.example\noptions ndots:0 timeout:2\n');
    assert.deepEqual(built.upstreams, ['127.0.0.53', '10.0.0.2']);
    const chosen = buildResolvConf({ host: host(['10.0.0.2']), resolver: '172.20.0.1', dns: ['192.0.2.53'], dnsOptions: ['ndots:1'] });
    assert.equal(chosen.text, 'nameserver 172.20.0.1\nsearch corp.example\noptions ndots:1\n');
    assert.deepEqual(chosen.upstreams, ['192.0.2.53']);
  });
});
