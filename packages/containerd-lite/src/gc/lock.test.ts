import { strict as assert } from 'node:assert';
import { GcLock } from './lock';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('GC lock', () => {
  it('lets shared holders run together and an exclusive one alone', async () => {
    const lock = new GcLock();
    const events: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const a = lock.shared(async () => {
      events.push('a start');
      await held;
      events.push('a end');
    });
    const b = lock.shared(async () => {
      events.push('b');
    });
    await tick();
    const gc = lock.exclusive(async () => {
      events.push('gc');
    });
    // Queued behind the waiting collection.
    const c = lock.shared(async () => {
      events.push('c');
    });
    await tick();
    assert.deepEqual(events, ['a start', 'b']);
    release();
    await Promise.all([a, b, gc, c]);
    assert.deepEqual(events, ['a start', 'b', 'a end', 'gc', 'c']);
  });

  it('releases on failure', async () => {
    const lock = new GcLock();
    await assert.rejects(
      lock.exclusive(async () => {
        throw new Error('boom');
      }),
    );
    await assert.rejects(
      lock.shared(async () => {
        throw new Error('boom');
      }),
    );
    assert.equal(await lock.exclusive(async () => 1), 1);
  });
});
