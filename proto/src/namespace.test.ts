import { strict as assert } from 'node:assert';
import { ErrorKind, isKind } from './errors';
import { DEFAULT_NAMESPACE, NAMESPACE_HEADER, namespaceFromMetadata, namespaceHeaders, validateNamespace } from './namespace';

const metadata = (values: Record<string, string[]>) => ({ get: (key: string) => values[key] ?? [] });

describe('containerd-namespace header', () => {
  it('reads the namespace a request names', () => {
    assert.equal(namespaceFromMetadata(metadata({ [NAMESPACE_HEADER]: ['k8s.io'] })), 'k8s.io');
  });

  it('falls back to the default namespace', () => {
    assert.equal(namespaceFromMetadata(metadata({})), DEFAULT_NAMESPACE);
    assert.equal(namespaceFromMetadata(undefined), 'default');
  });

  it('puts a namespace in headers', () => {
    assert.deepEqual(namespaceHeaders('team-a'), { 'containerd-namespace': 'team-a' });
  });

  it('rejects names containerd rejects', () => {
    for (const bad of ['', '-a', 'a-', 'a..b', 'a/b', 'x'.repeat(77), 'spaces here']) {
      assert.throws(
        () => validateNamespace(bad),
        (e: unknown) => isKind(e, ErrorKind.InvalidArgument),
        bad,
      );
    }
    for (const good of ['default', 'k8s.io', 'a_b-c.d', 'x'.repeat(76)]) assert.equal(validateNamespace(good), good);
  });

  it('rejects a malformed header value instead of using it', () => {
    assert.throws(() => namespaceFromMetadata(metadata({ [NAMESPACE_HEADER]: ['../etc'] })), /namespace "..\/etc"/);
  });
});
