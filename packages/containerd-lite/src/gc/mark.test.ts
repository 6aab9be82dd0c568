import { strict as assert } from 'node:assert';
import { type GcState, contentNode, ingestNode, mark, removalOrder, snapshotNamespace, snapshotNode } from './mark';

const d = (c: string): string => `sha256:${c.repeat(64)}`;
const now = new Date('2026-01-01T00:00:00Z');
const empty = (): GcState => ({ now, content: [], images: [], leases: [], snapshots: [] });

describe('GC mark', () => {
  it('marks an image target and what its labels reference, across cycles, and not the rest', () => {
    const state = empty();
    state.images.push({ namespace: 'a', name: 'img', target: d('1') });
    state.content.push(
      { namespace: 'a', digest: d('1'), labels: { 'containerd.io/gc.ref.content.m.0': d('2') } },
      // A cycle back to the index.
      {
        namespace: 'a',
        digest: d('2'),
        labels: { 'containerd.io/gc.ref.content.config': d('3'), 'containerd.io/gc.ref.content.back': d('1') },
      },
      { namespace: 'a', digest: d('3'), labels: { 'containerd.io/gc.ref.snapshot.overlayfs': 'sha256:chain' } },
      { namespace: 'a', digest: d('4'), labels: {} },
      // Same digest in another namespace: not referenced from there.
      { namespace: 'b', digest: d('2'), labels: {} },
    );
    state.snapshots.push(
      { snapshotter: 'overlayfs', name: 'a/sha256:chain', parent: 'a/sha256:base', labels: {}, namespace: 'a' },
      { snapshotter: 'overlayfs', name: 'a/sha256:base', parent: '', labels: { 'containerd.io/gc.ref.content.l': d('5') }, namespace: 'a' },
      { snapshotter: 'overlayfs', name: 'a/other', parent: '', labels: {}, namespace: 'a' },
    );
    const { marked } = mark(state);
    for (const n of ['1', '2', '3', '5']) assert.ok(marked.has(contentNode('a', d(n))), n);
    assert.ok(!marked.has(contentNode('a', d('4'))));
    assert.ok(!marked.has(contentNode('b', d('2'))));
    assert.ok(marked.has(snapshotNode('overlayfs', 'a/sha256:chain')));
    assert.ok(marked.has(snapshotNode('overlayfs', 'a/sha256:base')));
    assert.ok(!marked.has(snapshotNode('overlayfs', 'a/other')));
  });

  it('tolerates references to what does not exist', () => {
    const state = empty();
    state.images.push({ namespace: 'a', name: 'img', target: d('9') });
    state.content.push({
      namespace: 'a',
      digest: d('1'),
      labels: { 'containerd.io/gc.root': 'x', 'containerd.io/gc.ref.content': d('8') },
    });
    state.snapshots.push({ snapshotter: 's', name: 'a/k', parent: 'a/missing', labels: { 'containerd.io/gc.root': '1' }, namespace: 'a' });
    const { marked } = mark(state);
    assert.ok(marked.has(contentNode('a', d('1'))));
    assert.ok(marked.has(contentNode('a', d('8'))));
    assert.ok(marked.has(snapshotNode('s', 'a/missing')));
  });

  it('holds lease resources until the lease expires; flat leases hold no children', () => {
    const state = empty();
    state.content.push(
      { namespace: 'a', digest: d('1'), labels: { 'containerd.io/gc.ref.content.c': d('2') } },
      { namespace: 'a', digest: d('2'), labels: {} },
      { namespace: 'a', digest: d('3'), labels: { 'containerd.io/gc.ref.content.c': d('4') } },
      { namespace: 'a', digest: d('4'), labels: {} },
    );
    state.leases.push(
      {
        namespace: 'a',
        id: 'live',
        labels: { 'containerd.io/gc.expire': '2026-01-02T00:00:00Z' },
        resources: [
          { type: 'content', id: d('1') },
          { type: 'ingests', id: 'r1' },
          { type: 'snapshots/s', id: 'k' },
        ],
      },
      {
        namespace: 'a',
        id: 'old',
        labels: { 'containerd.io/gc.expire': '2025-12-31T23:59:59Z' },
        resources: [{ type: 'ingests', id: 'r2' }],
      },
      { namespace: 'a', id: 'flat', labels: { 'containerd.io/gc.flat': 'true' }, resources: [{ type: 'content', id: d('3') }] },
      { namespace: 'a', id: 'junk-date', labels: { 'containerd.io/gc.expire': 'soon' }, resources: [{ type: 'unknown', id: 'x' }] },
    );
    const { marked, expired } = mark(state);
    assert.deepEqual(
      expired.map((l) => l.id),
      ['old'],
    );
    assert.ok(marked.has(contentNode('a', d('2'))));
    assert.ok(marked.has(ingestNode('a', 'r1')));
    assert.ok(!marked.has(ingestNode('a', 'r2')));
    assert.ok(marked.has(snapshotNode('s', 'a/k')));
    assert.ok(marked.has(contentNode('a', d('3'))));
    assert.ok(!marked.has(contentNode('a', d('4'))));
  });

  it('keeps the parents of snapshots that are not ours', () => {
    const state = empty();
    state.snapshots.push(
      { snapshotter: 's', name: 'a/base', parent: '', labels: {}, namespace: 'a' },
      { snapshotter: 's', name: 'foreign', parent: 'a/base', labels: {} },
    );
    assert.ok(mark(state).marked.has(snapshotNode('s', 'a/base')));
  });

  it('knows our snapshot names', () => {
    const ns = new Set(['a', 'default']);
    assert.equal(snapshotNamespace('a/sha256:x', ns), 'a');
    assert.equal(snapshotNamespace('default/7/extract-1', ns), undefined);
    assert.equal(snapshotNamespace('zz/k', ns), undefined);
    assert.equal(snapshotNamespace('plain', ns), undefined);
    assert.equal(snapshotNamespace('a/', ns), undefined);
  });

  it('orders removals children first', () => {
    const s = (name: string, parent = '') => ({ snapshotter: 's', name, parent, labels: {}, namespace: 'a' });
    const order = removalOrder([s('a/1'), s('a/2', 'a/1'), s('a/3', 'a/2'), s('a/4', 'a/1')]).map((x) => x.name);
    assert.equal(order.length, 4);
    assert.ok(order.indexOf('a/3') < order.indexOf('a/2'));
    assert.ok(order.indexOf('a/2') < order.indexOf('a/1'));
    assert.ok(order.indexOf('a/4') < order.indexOf('a/1'));
  });
});
