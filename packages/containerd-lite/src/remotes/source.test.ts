import { strict as assert } from 'node:assert';
import { mountSource, sourceLabel, sourceRepositories, withRepository } from './source';

describe('distribution source labels', () => {
  const host = 'registry.example:5000';
  const key = sourceLabel(host);

  it("names the registry in the key and lists repositories in the value, containerd's way", () => {
    assert.equal(key, 'containerd.io/distribution.source.registry.example:5000');
    assert.deepEqual(sourceRepositories({ [key]: 'library/busybox,team/app' }, host), ['library/busybox', 'team/app']);
    assert.deepEqual(sourceRepositories({ [key]: 'library/busybox' }, 'docker.io'), [], 'another registry knows nothing');
  });

  it('adds a repository once, as the newest, and drops the oldest past the bound on a label', () => {
    assert.equal(withRepository(undefined, host, 'a'), 'a');
    assert.equal(withRepository('a,b', host, 'c'), 'a,b,c');
    assert.equal(withRepository('a,b,c', host, 'a'), 'b,c,a');
    const many = Array.from({ length: 400 }, (_, i) => `team/repository-${i}`).join(',');
    const value = withRepository(many, host, 'team/new');
    assert.ok(Buffer.byteLength(key) + Buffer.byteLength(value) <= 4096);
    assert.ok(value.endsWith(',team/new'));
    assert.ok(!value.startsWith('team/repository-0,'), 'the oldest went first');
  });

  it('mounts from the repository sharing the longest path with the destination, the newest among equals', () => {
    const labels = { [key]: 'library/busybox,team/base,team/app,other/base' };
    assert.equal(mountSource(labels, host, 'team/app'), 'team/base', 'not the destination itself');
    assert.equal(mountSource(labels, host, 'elsewhere'), 'other/base');
    assert.equal(mountSource(labels, host, 'library/alpine'), 'library/busybox');
    assert.equal(mountSource({ [key]: 'team/app' }, host, 'team/app'), undefined);
    assert.equal(mountSource(labels, 'docker.io', 'team/app'), undefined);
  });
});
