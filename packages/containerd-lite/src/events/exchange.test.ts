import { ErrorKind, isKind } from '@ctl/proto';
import { strict as assert } from 'node:assert';
import { decodeEvent, encodeEvent } from './codec';
import type { Envelope } from './events';
import { Exchange, validateTopic } from './exchange';

const take = async (it: AsyncIterator<Envelope>, n: number): Promise<Envelope[]> => {
  const out: Envelope[] = [];
  for (let i = 0; i < n; i++) {
    const r = await it.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
};

const invalid = (err: unknown): boolean => isKind(err, ErrorKind.InvalidArgument);

describe('event exchange', () => {
  it('encodes and decodes containerd.events messages, timestamps and nested Anys included', () => {
    const exitedAt = new Date(1_700_000_000_123);
    const any = encodeEvent('containerd.events.TaskExit', { containerId: 'c1', id: 'c1', pid: 42, exitStatus: 137, exitedAt });
    assert.equal(any.typeUrl, 'containerd.events.TaskExit');
    assert.deepEqual(decodeEvent(any), {
      type: 'containerd.events.TaskExit',
      fields: { containerId: 'c1', id: 'c1', pid: 42, exitStatus: 137, exitedAt },
    });
    const options = { typeUrl: 'containerd.runc.v1.Options', value: Buffer.from([8, 1]) };
    const create = decodeEvent(encodeEvent('containerd.events.ContainerCreate', { id: 'c', image: 'i', runtime: { name: 'r', options } }));
    assert.deepEqual(create.fields.runtime, { name: 'r', options });
    // A types.googleapis.com/ prefix is understood too.
    assert.equal(decodeEvent({ ...any, typeUrl: `types.googleapis.com/${any.typeUrl}` }).type, 'containerd.events.TaskExit');
    assert.throws(() => encodeEvent('containerd.events.Nope', {}), invalid);
    assert.throws(() => encodeEvent('google.protobuf.Any', {}), invalid);
    assert.throws(() => decodeEvent({ typeUrl: 'x.Y', value: Buffer.alloc(0) }), invalid);
  });

  it('validates topics as containerd does', () => {
    for (const ok of ['/tasks/exit', '/tasks/exec-added', '/a', '/a.b/c_d']) assert.equal(validateTopic(ok), ok);
    for (const bad of ['', 'tasks/exit', '/', '/tasks//exit', '/tasks/exit/', '/tasks/ex it', '/-a'])
      assert.throws(() => validateTopic(bad), invalid, bad);
    const ex = new Exchange();
    assert.throws(() => ex.publish('default', 'nope', 'containerd.events.TaskOOM', {}), invalid);
    assert.throws(() => ex.publish('bad/ns', '/tasks/oom', 'containerd.events.TaskOOM', {}), invalid);
    assert.throws(
      () =>
        ex.forward({
          timestamp: new Date(0),
          namespace: 'default',
          topic: '/tasks/oom',
          event: encodeEvent('containerd.events.TaskOOM', {}),
        }),
      invalid,
    );
    assert.throws(() => ex.subscribe(['topic=="unterminated']), invalid);
  });

  it('delivers to each subscriber what its filters match: topic, namespace and event fields', async () => {
    const ex = new Exchange();
    const ac = new AbortController();
    const all = ex.subscribe([], ac.signal);
    const exits = ex.subscribe(['topic=="/tasks/exit"'], ac.signal);
    const containers = ex.subscribe(['topic~="^/containers/"', 'namespace==other'], ac.signal);
    const byField = ex.subscribe(['event.container_id==c2', 'event.labels.app==web', 'event.runtime.name==rt'], ac.signal);
    ex.publish('default', '/tasks/exit', 'containerd.events.TaskExit', { containerId: 'c1' });
    ex.publish('default', '/containers/create', 'containerd.events.ContainerCreate', { id: 'x', runtime: { name: 'rt' } });
    ex.publish('other', '/tasks/start', 'containerd.events.TaskStart', { containerId: 'c2', pid: 1 });
    ex.publish('default', '/images/update', 'containerd.events.ImageUpdate', { name: 'i', labels: { app: 'web' } });
    const topics = async (it: AsyncIterator<Envelope>, n: number) => (await take(it, n)).map((e) => `${e.namespace}${e.topic}`);
    assert.deepEqual(await topics(all, 4), [
      'default/tasks/exit',
      'default/containers/create',
      'other/tasks/start',
      'default/images/update',
    ]);
    assert.deepEqual(await topics(exits, 1), ['default/tasks/exit']);
    assert.deepEqual(await topics(containers, 2), ['default/containers/create', 'other/tasks/start']);
    assert.deepEqual(await topics(byField, 3), ['default/containers/create', 'other/tasks/start', 'default/images/update']);
    assert.equal(ex.subscriberCount, 4);
    ac.abort();
    assert.equal(ex.subscriberCount, 0);
    for (const it of [all, exits, containers, byField]) assert.deepEqual(await it.next(), { value: undefined, done: true });
  });

  it('forgets a subscriber that stops: abort, break out of for-await, or close', async () => {
    const ex = new Exchange();
    const ac = new AbortController();
    const waiting = ex.subscribe([], ac.signal).next();
    assert.equal(ex.subscriberCount, 1);
    ac.abort();
    assert.deepEqual(await waiting, { value: undefined, done: true });
    assert.equal(ex.subscriberCount, 0);
    // Already aborted: never registered.
    ex.subscribe([], ac.signal);
    assert.equal(ex.subscriberCount, 0);

    const loop = (async () => {
      for await (const e of ex.subscribe()) return e.topic;
      return undefined;
    })();
    assert.equal(ex.subscriberCount, 1);
    ex.publish('default', '/tasks/oom', 'containerd.events.TaskOOM', { containerId: 'c' });
    assert.equal(await loop, '/tasks/oom');
    assert.equal(ex.subscriberCount, 0);

    const it = ex.subscribe();
    ex.close();
    assert.equal(ex.subscriberCount, 0);
    assert.equal((await it.next()).done, true);
  });

  it('bounds a slow subscriber: its oldest events go, with a warning; others get everything', async () => {
    const warnings: string[] = [];
    const ex = new Exchange({ queueLimit: 10, logger: { warn: (m) => warnings.push(m) } });
    const slow = ex.subscribe();
    const fast = ex.subscribe();
    const fastSeen: number[] = [];
    const reading = (async () => {
      for await (const e of fast) {
        fastSeen.push(decodeEvent(e.event).fields.pid as number);
        if (fastSeen.length === 1000) return;
      }
    })();
    for (let pid = 0; pid < 1000; pid++) {
      ex.publish('default', '/tasks/start', 'containerd.events.TaskStart', { containerId: 'c', pid });
      await new Promise((r) => setImmediate(r));
    }
    await reading;
    assert.equal(fastSeen.length, 1000);
    const got = (await take(slow, 10)).map((e) => decodeEvent(e.event).fields.pid);
    assert.deepEqual(got, [990, 991, 992, 993, 994, 995, 996, 997, 998, 999]);
    assert.equal(warnings.length, 2, warnings.join('; '));
    assert.match(warnings[0]!, /too slow/);
    assert.match(warnings[1]!, /caught up/);
  });
});
