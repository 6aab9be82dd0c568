import { strict as assert } from 'node:assert';
import { type Inventory, findDataProblems } from './check';

const inventory = (over: Partial<Inventory> = {}): Inventory => ({
  content: [
    {
      namespace: 'a',
      digest: 'sha256:m',
      labels: { 'containerd.io/gc.ref.content.config': 'sha256:c', 'containerd.io/gc.ref.content.l.0': 'sha256:l' },
    },
    { namespace: 'a', digest: 'sha256:c', labels: { 'containerd.io/gc.ref.snapshot.overlayfs': 'sha256:chain' } },
    { namespace: 'a', digest: 'sha256:l', labels: {} },
  ],
  blobPresent: () => true,
  images: [{ namespace: 'a', name: 'img', target: 'sha256:m' }],
  snapshots: [
    { snapshotter: 'overlayfs', name: 'a/sha256:chain', parent: '', labels: {}, namespace: 'a' },
    { snapshotter: 'overlayfs', name: 'a/box', parent: 'a/sha256:chain', labels: {}, namespace: 'a' },
  ],
  unreachable: [],
  containerRoots: [{ type: 'snapshot', namespace: 'a', snapshotter: 'overlayfs', key: 'box' }],
  ...over,
});
const found = (inv: Inventory) => findDataProblems(inv).map((p) => `${p.kind} ${p.subject}`);

describe('system check (data)', () => {
  it('finds nothing when every reference is there', () => {
    assert.deepEqual(found(inventory()), []);
  });

  it('names an image whose blob has no record, an unpacked snapshot that is gone, a lost parent, a container without its snapshot', () => {
    const inv = inventory();
    assert.deepEqual(found({ ...inv, content: inv.content.filter((c) => c.digest !== 'sha256:l') }), ['content img']);
    assert.deepEqual(found({ ...inv, snapshots: inv.snapshots.filter((s) => s.name !== 'a/sha256:chain') }), [
      'snapshot img',
      'parent a/box',
    ]);
    assert.deepEqual(found({ ...inv, snapshots: inv.snapshots.filter((s) => s.name !== 'a/box') }), ['container box']);
    assert.deepEqual(found({ ...inv, blobPresent: (d) => d !== 'sha256:c' }), ['blob sha256:c']);
  });

  it('does not judge the snapshots of a snapshotter that did not answer, and says so', () => {
    assert.deepEqual(found(inventory({ snapshots: [], unreachable: ['overlayfs'] })), ['snapshotter overlayfs']);
  });
});
