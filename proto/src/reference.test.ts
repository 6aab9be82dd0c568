import { ErrorKind, isKind } from './errors';
import { strict as assert } from 'node:assert';
import { familiarName, formatReference, isReference, normalizeReference, parseNormalizedReference, parseReference } from './reference';

const HEX = 'a'.repeat(64);

describe('reference', () => {
  it('normalises Docker Hub short names', () => {
    assert.equal(normalizeReference('busybox'), 'docker.io/library/busybox:latest');
    assert.equal(normalizeReference('busybox:1.36'), 'docker.io/library/busybox:1.36');
    assert.equal(normalizeReference('foo/bar:1'), 'docker.io/foo/bar:1');
    assert.equal(normalizeReference('index.docker.io/library/alpine'), 'docker.io/library/alpine:latest');
    assert.equal(normalizeReference('docker.io/alpine'), 'docker.io/library/alpine:latest');
    assert.equal(normalizeReference('a/b/c'), 'docker.io/a/b/c:latest');
  });

  it('keeps other registries, ports, digests', () => {
    assert.equal(normalizeReference(`localhost:5000/x@sha256:${HEX}`), `localhost:5000/x@sha256:${HEX}`);
    assert.equal(normalizeReference('localhost/x'), 'localhost/x:latest');
    assert.equal(normalizeReference(`registry.example.com/a/b:tag@sha256:${HEX}`), `registry.example.com/a/b:tag@sha256:${HEX}`);
    assert.deepEqual(parseNormalizedReference(`registry.example.com:443/a/b:tag@sha256:${HEX}`), {
      domain: 'registry.example.com:443',
      path: 'a/b',
      tag: 'tag',
      digest: `sha256:${HEX}`,
    });
    assert.equal(normalizeReference('[::1]:5000/x:y'), '[::1]:5000/x:y');
    assert.equal(normalizeReference('my-reg.io/a__b/c.d-e---f:v1.2_3'), 'my-reg.io/a__b/c.d-e---f:v1.2_3');
  });

  it('parses without normalising', () => {
    assert.deepEqual(parseReference('busybox'), { domain: '', path: 'busybox' });
    assert.equal(formatReference(parseReference('foo/bar:1')), 'foo/bar:1');
  });

  it('rejects bad references with InvalidArgument and a clear message', () => {
    const bad: [string, RegExp][] = [
      ['', /empty/],
      ['Busybox', /lower-case/],
      ['foo/Bar', /lower-case/],
      ['busybox:', /tag/],
      ['busybox:-x', /tag/],
      [`busybox:${'x'.repeat(129)}`, /tag/],
      ['busybox@sha256:abc', /64 lower-case hex/],
      ['busybox@md5:' + 'a'.repeat(32), /not supported/],
      ['busybox@', /digest/],
      ['a//b', /component/],
      ['-a', /component/],
      ['a_/b', /component/],
      [HEX, /image id/],
      [`x/${'a'.repeat(256)}`, /longer than 255/],
      ['localhost:5000/', /empty/],
    ];
    for (const [input, why] of bad) {
      assert.throws(
        () => normalizeReference(input),
        (err: Error) => isKind(err, ErrorKind.InvalidArgument) && why.test(err.message) && err.message.includes('invalid reference'),
        input,
      );
      assert.equal(isReference(input), false, input);
    }
  });

  it('familiar names for display', () => {
    assert.equal(familiarName('docker.io/library/busybox:latest'), 'busybox:latest');
    assert.equal(familiarName('docker.io/foo/bar:1'), 'foo/bar:1');
    assert.equal(familiarName('docker.io/library/a/b:1'), 'library/a/b:1');
    assert.equal(familiarName(`localhost:5000/x@sha256:${HEX}`), `localhost:5000/x@sha256:${HEX}`);
    assert.equal(familiarName('busybox'), 'busybox:latest');
    assert.equal(familiarName(parseReference('quay.io/a/b:c')), 'quay.io/a/b:c');
  });
});
