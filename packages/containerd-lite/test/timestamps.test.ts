/**
 * Times to the nanosecond over containerd's APIs (content, images, containers, leases): a time
 * a call stamps lies between instants read just before and just after it, as containerd's own
 * suites check with Go's nanosecond clock. A millisecond time lands before the first unless a
 * millisecond tick falls inside the call, so every check runs a few rounds. Records stored with
 * millisecond times (before this) still read.
 */
import { openDatabase } from '@ctl/proto';
import { tempInstance } from '@ctl/proto/testing';
import { epochNanos, now } from '@ctl/proto/time';
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { SPEC_TYPE_URL } from '../src/containers/containers';
import { ContainerStore } from '../src/containers/store';
import { ContentStore } from '../src/content/store';
import { SCHEMA, containerKey, contentKey, imageKey, leaseKey } from '../src/layout';
import { MediaType, sha256 } from '../src/oci';
import { put } from './content-conformance';
import { type Instance, startInstance } from './instance';

const ROUNDS = 5;

interface Window {
  before: bigint;
  after: bigint;
}

async function timed<T>(call: () => Promise<T>): Promise<T & Window> {
  const before = epochNanos(now());
  const value = await call();
  return { ...value, before, after: epochNanos(now()) };
}

/**
 * Checks that each time lies within its call; at the end, that the times kept their nanoseconds
 * (a call slower than a millisecond would let a millisecond time pass the first check).
 */
class Stamps {
  private readonly seen: bigint[] = [];

  within(time: Date, w: Window, what: string): void {
    const t = epochNanos(time);
    assert.ok(w.before < t && t < w.after, `${what}: ${w.before} < ${t} < ${w.after}`);
    this.seen.push(t);
  }

  assertNanosecondsKept(): void {
    assert.ok(
      this.seen.some((t) => t % 1_000_000n !== 0n),
      `whole milliseconds only: ${this.seen.join(', ')}`,
    );
  }
}

const MS = { created: '2024-05-06T07:08:09.123Z', updated: '2024-05-06T07:08:10.5Z' };
const target = (text: string) => ({ mediaType: MediaType.ociManifest, digest: sha256(text), size: text.length });
const spec = { typeUrl: SPEC_TYPE_URL, value: Buffer.from('{"ociVersion":"1.0.2"}') };

describe('nanosecond times over gRPC', function () {
  this.timeout(30_000);
  let inst: Instance;
  before(async () => {
    inst = await startInstance();
  });
  after(async () => inst.teardown());

  it('content: an update stamps updatedAt within the call', async () => {
    const stamps = new Stamps();
    const content = inst.content();
    for (let i = 0; i < ROUNDS; i++) {
      const digest = await put(content, `ref-${i}`, `blob ${i}`);
      const created = await content.info(digest);
      const updated = await timed(() => content.update({ digest, labels: { round: String(i) } }, ['labels.round']));
      stamps.within(updated.updatedAt, updated, 'content updatedAt');
      assert.equal(epochNanos(updated.createdAt), epochNanos(created.createdAt));
    }
    stamps.assertNanosecondsKept();
  });

  it('images: create and update stamp createdAt and updatedAt within the call', async () => {
    const stamps = new Stamps();
    const images = inst.images();
    for (let i = 0; i < ROUNDS; i++) {
      const created = await timed(() => images.create({ name: `img-${i}`, target: target(`m${i}`) }));
      stamps.within(created.createdAt, created, 'image createdAt');
      assert.equal(epochNanos(created.updatedAt), epochNanos(created.createdAt));
      const updated = await timed(() => images.update({ name: `img-${i}`, labels: { n: String(i) } }, ['labels']));
      stamps.within(updated.updatedAt, updated, 'image updatedAt');
      assert.equal(epochNanos((await images.get(`img-${i}`)).updatedAt), epochNanos(updated.updatedAt));
    }
    stamps.assertNanosecondsKept();
  });

  it('containers: create and update stamp createdAt and updatedAt within the call', async () => {
    const stamps = new Stamps();
    const containers = inst.containers();
    for (let i = 0; i < ROUNDS; i++) {
      const fields = { id: `c${i}`, image: 'busybox', runtime: { name: 'io.containerd.runc.v2' }, spec, snapshotter: '', snapshotKey: '' };
      const created = await timed(() => containers.create({ ...fields, labels: {} }));
      stamps.within(created.createdAt, created, 'container createdAt');
      const updated = await timed(() => containers.update({ ...fields, labels: { n: String(i) } }, ['labels']));
      stamps.within(updated.updatedAt, updated, 'container updatedAt');
      assert.equal(epochNanos(updated.createdAt), epochNanos(created.createdAt));
    }
    stamps.assertNanosecondsKept();
  });

  it('leases: create stamps createdAt within the call', async () => {
    const stamps = new Stamps();
    for (let i = 0; i < ROUNDS; i++) {
      const lease = await timed(() => inst.leases().create({ id: `lease-${i}` }));
      stamps.within(lease.createdAt, lease, 'lease createdAt');
    }
    stamps.assertNanosecondsKept();
  });

  it('reads image and lease records stored with millisecond times', async () => {
    const db = inst.local.images.db;
    await db.put(imageKey('old', 'img'), { labels: {}, target: target('old'), ...MS });
    await db.put(leaseKey('old', 'l'), { labels: {}, created: MS.created });
    const image = await inst.images('old').get('img');
    assert.deepEqual([epochNanos(image.createdAt), epochNanos(image.updatedAt)], [1_714_979_289_123_000_000n, 1_714_979_290_500_000_000n]);
    const [lease] = await inst.leases('old').list();
    assert.equal(epochNanos(lease!.createdAt), 1_714_979_289_123_000_000n);
  });
});

describe('container records stored with millisecond times', () => {
  // A store opened on records an earlier version wrote (it keeps the set of records it knows
  // from its first read on, so they are written before it opens, as after an upgrade).
  it('still read', async () => {
    const tmp = tempInstance('ctl-cdl-times-');
    const db = await openDatabase(join(tmp.root, 'meta'), SCHEMA);
    try {
      await db.put(containerKey('old', 'c'), {
        labels: {},
        image: 'busybox',
        runtime: { name: 'io.containerd.runc.v2' },
        spec: { typeUrl: spec.typeUrl, value: spec.value.toString('base64') },
        snapshotter: '',
        snapshotKey: '',
        extensions: {},
        ...MS,
      });
      const container = await new ContainerStore(db).namespace('old').get('c');
      assert.deepEqual(
        [epochNanos(container.createdAt), epochNanos(container.updatedAt)],
        [1_714_979_289_123_000_000n, 1_714_979_290_500_000_000n],
      );
    } finally {
      await db.close();
      tmp.remove();
    }
  });
});

describe('content records stored with millisecond times', () => {
  it('still read', async () => {
    const tmp = tempInstance('ctl-cdl-times-');
    const db = await openDatabase(join(tmp.root, 'meta'), SCHEMA);
    try {
      const digest = sha256('old blob');
      await db.put(contentKey('old', digest), {
        size: 8,
        labels: {},
        created: '2024-05-06T07:08:09.123Z',
        updated: '2024-05-06T07:08:10.5Z',
      });
      const store = await ContentStore.open(db, join(tmp.root, 'content'));
      const info = await store.namespace('old').info(digest);
      assert.equal(epochNanos(info.updatedAt), 1_714_979_290_500_000_000n);
    } finally {
      await db.close();
      tmp.remove();
    }
  });
});
