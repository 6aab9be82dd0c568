import { ErrorKind, isKind } from './errors';
import { strict as assert } from 'node:assert';
import { all, any, format, hostPlatform, normalize, only, onlyStrict, parse } from './platforms';

describe('platforms', () => {
  it('host platform in OCI names', () => {
    const host = hostPlatform();
    assert.equal(host.os, 'linux');
    const want: Record<string, string> = { x64: 'amd64', arm64: 'arm64', ia32: '386', arm: 'arm' };
    if (want[process.arch]) assert.equal(host.architecture, want[process.arch]);
    if (process.arch === 'arm64') assert.equal(host.variant, 'v8');
    assert.equal(only(host).match(host), true);
  });

  it('parses and formats', () => {
    assert.deepEqual(parse('linux/amd64'), { os: 'linux', architecture: 'amd64' });
    assert.deepEqual(parse('linux/arm/v7'), { os: 'linux', architecture: 'arm', variant: 'v7' });
    assert.deepEqual(parse('linux/arm'), { os: 'linux', architecture: 'arm', variant: 'v7' });
    assert.deepEqual(parse('linux/aarch64'), { os: 'linux', architecture: 'arm64' });
    assert.deepEqual(parse('linux/arm64/v8'), { os: 'linux', architecture: 'arm64' });
    assert.deepEqual(parse('x86_64'), { os: 'linux', architecture: 'amd64' });
    assert.deepEqual(parse('Linux/X86_64'), { os: 'linux', architecture: 'amd64' });
    assert.deepEqual(parse('linux').architecture, hostPlatform().architecture);
    assert.equal(format({ os: 'linux', architecture: 'arm64', variant: 'v8' }), 'linux/arm64/v8');
    assert.equal(format(parse('linux/386')), 'linux/386');
    for (const bad of ['', 'a/b/c/d', 'linux//amd64', 'linux/am d64']) {
      assert.throws(
        () => parse(bad),
        (err: Error) => isKind(err, ErrorKind.InvalidArgument) && /invalid platform/.test(err.message),
        bad,
      );
    }
    assert.deepEqual(normalize({ os: 'linux', architecture: 'armhf' }), { os: 'linux', architecture: 'arm', variant: 'v7' });
  });

  it('matches exact os and architecture', () => {
    const m = only({ os: 'linux', architecture: 'amd64' });
    assert.equal(m.match({ os: 'linux', architecture: 'amd64' }), true);
    assert.equal(m.match({ os: 'linux', architecture: 'amd64', variant: 'v3' }), true);
    assert.equal(m.match({ os: 'linux', architecture: 'arm64' }), false);
    assert.equal(m.match({ os: 'windows', architecture: 'amd64' }), false);
    assert.equal(m.match({ os: 'linux', architecture: '386' }), false);
    assert.equal(m.less({ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'amd64', variant: 'v2' }), true);
    const v2 = only({ os: 'linux', architecture: 'amd64', variant: 'v2' });
    assert.equal(v2.match({ os: 'linux', architecture: 'amd64', variant: 'v3' }), false);
    assert.equal(v2.match({ os: 'linux', architecture: 'amd64', variant: 'v1' }), true);
  });

  it('arm variants: arm64 runs arm/v8…v5; arm/v7 runs v6, v5 but not v8', () => {
    const arm64 = only({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    assert.equal(arm64.match({ os: 'linux', architecture: 'arm64' }), true);
    assert.equal(arm64.match({ os: 'linux', architecture: 'aarch64', variant: '8' }), true);
    assert.equal(arm64.match({ os: 'linux', architecture: 'arm', variant: 'v7' }), true);
    assert.equal(arm64.match({ os: 'linux', architecture: 'amd64' }), false);
    assert.equal(arm64.less({ os: 'linux', architecture: 'arm64' }, { os: 'linux', architecture: 'arm', variant: 'v7' }), true);
    assert.equal(arm64.less({ os: 'linux', architecture: 'arm', variant: 'v7' }, { os: 'linux', architecture: 'arm64' }), false);
    const v7 = only({ os: 'linux', architecture: 'arm', variant: 'v7' });
    assert.equal(v7.match({ os: 'linux', architecture: 'arm', variant: 'v6' }), true);
    assert.equal(v7.match({ os: 'linux', architecture: 'arm' }), true);
    assert.equal(v7.match({ os: 'linux', architecture: 'arm', variant: 'v8' }), false);
    assert.equal(v7.match({ os: 'linux', architecture: 'arm64' }), false);
    assert.equal(onlyStrict({ os: 'linux', architecture: 'arm64' }).match({ os: 'linux', architecture: 'arm', variant: 'v7' }), false);
  });

  it('any and all', () => {
    const m = any({ os: 'linux', architecture: 'arm64' }, { os: 'linux', architecture: 'amd64' });
    assert.equal(m.match({ os: 'linux', architecture: 'amd64' }), true);
    assert.equal(m.match({ os: 'linux', architecture: 's390x' }), false);
    assert.equal(m.less({ os: 'linux', architecture: 'arm64' }, { os: 'linux', architecture: 'amd64' }), true);
    assert.equal(all.match({ os: 'plan9', architecture: 'x' }), true);
  });
});
