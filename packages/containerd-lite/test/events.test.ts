/**
 * The Events service over gRPC: stores publish what containerd publishes, a subscriber gets it
 * with decodable payloads, Publish and Forward round trips, filters, and a cancelled
 * subscription is cleaned up on the server.
 */
import { ErrorKind, isKind } from '@ctl/proto';
import { waitFor } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import { SPEC_TYPE_URL } from '../src/containers/containers';
import { decodeEvent, encodeEvent } from '../src/events/codec';
import type { Envelope } from '../src/events/events';
import { MediaType, sha256 } from '../src/oci';
import { type Instance, startInstance } from './instance';

const spec = { typeUrl: SPEC_TYPE_URL, value: Buffer.from('{}') };

describe('events', function () {
  this.timeout(30_000);
  let inst: Instance;
  beforeEach(async () => {
    inst = await startInstance();
  });
  afterEach(async () => inst.teardown());

  /** Subscribes over gRPC and waits until the server has the subscription. */
  async function subscribe(filters: string[]): Promise<{ got: Envelope[]; stop: () => Promise<void> }> {
    const got: Envelope[] = [];
    const before = inst.local.events.subscriberCount;
    const ac = new AbortController();
    const done = inst.events.subscribe(filters, (e) => got.push(e), { signal: ac.signal });
    done.catch(() => undefined);
    await waitFor('the subscription', async () => (inst.local.events.subscriberCount > before ? true : undefined), 5000);
    return {
      got,
      stop: async () => {
        ac.abort();
        await done;
      },
    };
  }

  const until = (what: string, cond: () => boolean) => waitFor(what, async () => (cond() ? true : undefined), 5000);

  it('delivers /containers, /images, /namespaces and /content events with decodable payloads', async () => {
    const sub = await subscribe([]);
    const containers = inst.containers('team');
    await containers.create({ id: 'c1', image: 'busybox', runtime: { name: 'io.containerd.runc.v2' }, spec, labels: { a: 'b' } });
    await containers.update({ id: 'c1', labels: { a: 'c' } }, ['labels.a']);
    await containers.delete('c1');
    const target = { mediaType: MediaType.ociManifest, digest: sha256('m'), size: 1 };
    await inst.images('team').create({ name: 'img', target, labels: { x: 'y' } });
    await inst.images('team').update({ name: 'img', labels: { x: 'z' } }, ['labels.x']);
    await inst.images('team').delete('img');
    await inst.namespaces.create({ name: 'made', labels: { l: '1' } });
    await inst.namespaces.update({ name: 'made', labels: { l: '2' } }, ['labels.l']);
    await inst.namespaces.delete('made');
    await until('11 events', () => sub.got.length >= 9);
    const seen = sub.got.map((e) => [e.namespace, e.topic, decodeEvent(e.event)]);
    assert.deepEqual(seen, [
      [
        'team',
        '/containers/create',
        { type: 'containerd.events.ContainerCreate', fields: { id: 'c1', image: 'busybox', runtime: { name: 'io.containerd.runc.v2' } } },
      ],
      [
        'team',
        '/containers/update',
        { type: 'containerd.events.ContainerUpdate', fields: { id: 'c1', image: 'busybox', labels: { a: 'c' }, snapshotKey: '' } },
      ],
      ['team', '/containers/delete', { type: 'containerd.events.ContainerDelete', fields: { id: 'c1' } }],
      ['team', '/images/create', { type: 'containerd.events.ImageCreate', fields: { name: 'img', labels: { x: 'y' } } }],
      ['team', '/images/update', { type: 'containerd.events.ImageUpdate', fields: { name: 'img', labels: { x: 'z' } } }],
      ['team', '/images/delete', { type: 'containerd.events.ImageDelete', fields: { name: 'img' } }],
      ['made', '/namespaces/create', { type: 'containerd.events.NamespaceCreate', fields: { name: 'made', labels: { l: '1' } } }],
      ['made', '/namespaces/update', { type: 'containerd.events.NamespaceUpdate', fields: { name: 'made', labels: { l: '2' } } }],
      ['made', '/namespaces/delete', { type: 'containerd.events.NamespaceDelete', fields: { name: 'made' } }],
    ]);
    for (const e of sub.got) assert.ok(Math.abs(e.timestamp.getTime() - Date.now()) < 10_000);

    // Content delete (a blob written through the local store).
    const w = await inst.content('team').writer('ref1');
    await w.write(Buffer.from('blob'));
    const digest = await w.commit(4, sha256('blob'));
    await inst.content('team').delete(digest);
    await until('content delete', () => sub.got.length === 10);
    assert.equal(sub.got[9]!.topic, '/content/delete');
    assert.deepEqual(decodeEvent(sub.got[9]!.event).fields, { digest });
    await sub.stop();
  });

  it('filters on topic, namespace and event fields on the server', async () => {
    const exits = await subscribe(['topic=="/tasks/exit",namespace==default']);
    const byId = await subscribe(['event.container_id==c2']);
    const containers = await subscribe(['topic~="/containers/"']);
    const publish = (ns: string, topic: string, type: string, fields: Record<string, unknown>) =>
      inst.local.events.publish(ns, topic, type, fields);
    publish('default', '/tasks/exit', 'containerd.events.TaskExit', { containerId: 'c1', exitStatus: 3 });
    publish('other', '/tasks/exit', 'containerd.events.TaskExit', { containerId: 'c2', exitStatus: 4 });
    publish('default', '/tasks/start', 'containerd.events.TaskStart', { containerId: 'c2', pid: 9 });
    await inst.containers().create({ id: 'c3', runtime: { name: 'rt' }, spec });
    await until('deliveries', () => exits.got.length === 1 && byId.got.length === 2 && containers.got.length === 1);
    assert.deepEqual(decodeEvent(exits.got[0]!.event).fields.exitStatus, 3);
    assert.deepEqual(
      byId.got.map((e) => `${e.namespace}${e.topic}`),
      ['other/tasks/exit', 'default/tasks/start'],
    );
    assert.equal(containers.got[0]!.topic, '/containers/create');
    await Promise.all([exits.stop(), byId.stop(), containers.stop()]);
  });

  it("Publish and Forward round trip; their errors are containerd's", async () => {
    const sub = await subscribe(['namespace==ns1']);
    await inst.events.publish('ns1', '/tasks/oom', encodeEvent('containerd.events.TaskOOM', { containerId: 'c9' }));
    const stamp = new Date('2024-02-03T04:05:06.789Z');
    await inst.events.forward({
      timestamp: stamp,
      namespace: 'ns1',
      topic: '/custom/thing',
      event: { typeUrl: 'example.com/Opaque', value: Buffer.from('raw') },
    });
    await until('two events', () => sub.got.length === 2);
    assert.equal(sub.got[0]!.topic, '/tasks/oom');
    assert.deepEqual(decodeEvent(sub.got[0]!.event).fields, { containerId: 'c9' });
    assert.deepEqual(sub.got[1], {
      timestamp: stamp,
      namespace: 'ns1',
      topic: '/custom/thing',
      event: { typeUrl: 'example.com/Opaque', value: Buffer.from('raw') },
    });
    const kind = (k: ErrorKind) => (err: unknown) => isKind(err, k);
    await assert.rejects(
      inst.events.publish('ns1', 'no-slash', encodeEvent('containerd.events.TaskOOM', {})),
      kind(ErrorKind.InvalidArgument),
    );
    await assert.rejects(
      inst.events.forward({ timestamp: new Date(0), namespace: 'ns1', topic: '/a', event: encodeEvent('containerd.events.TaskOOM', {}) }),
      kind(ErrorKind.InvalidArgument),
    );
    await assert.rejects(
      inst.events.subscribe(['topic=="x'], () => undefined),
      kind(ErrorKind.InvalidArgument),
    );
    await sub.stop();
  });

  it('requires the namespace header on Publish', async () => {
    const { wireMethod } = await import('@ctl/proto/wire');
    const m = wireMethod<object, object>('containerd/services/events/v1/events', 'containerd.services.events.v1.Events', 'Publish');
    await assert.rejects(inst.wire.unary(m, { topic: '/a', event: { type_url: 'x', value: Buffer.alloc(0) } }), (err: unknown) =>
      isKind(err, ErrorKind.FailedPrecondition),
    );
  });

  it('cleans up a cancelled subscription, and shutdown ends live ones', async () => {
    // The daemon's own subscribers (the restart supervisor) stay.
    const own = inst.local.events.subscriberCount;
    const sub = await subscribe([]);
    assert.equal(inst.local.events.subscriberCount, own + 1);
    await sub.stop();
    await until('no subscribers', () => inst.local.events.subscriberCount === own);
    // A live subscription ends (resolves) when the daemon shuts down, without waiting out the grace.
    const got: Envelope[] = [];
    const live = inst.events.subscribe([], (e) => got.push(e));
    await until('subscribed', () => inst.local.events.subscriberCount === own + 1);
    const started = Date.now();
    const teardown = inst.teardown();
    await live.then(
      () => undefined,
      () => undefined,
    );
    await teardown;
    assert.ok(Date.now() - started < 900, `shutdown took ${Date.now() - started} ms`);
    inst = await startInstance();
  });
});
