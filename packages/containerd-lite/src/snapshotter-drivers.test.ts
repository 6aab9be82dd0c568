import { strict as assert } from 'node:assert';
import { CachedDriverResolver, type DriverResolver } from './snapshotter-drivers';

/** A snapshotter whose default can change (a restart with another configuration) and that can be down. */
class FakeSnapshotter implements DriverResolver {
  asked: string[] = [];
  defaultDriver = 'overlayfs';
  down = false;

  async resolve(name: string): Promise<string> {
    this.asked.push(name);
    if (this.down) throw new Error('no service answers');
    return name === '' ? this.defaultDriver : name;
  }
}

describe('CachedDriverResolver', () => {
  let clock = 0;
  const now = (): number => clock;
  beforeEach(() => {
    clock = 0;
  });

  it('asks once for concurrent and repeated requests within the lifetime of an answer', async () => {
    const service = new FakeSnapshotter();
    const drivers = new CachedDriverResolver(service, 1000, now);
    assert.deepEqual(await Promise.all([drivers.resolve(''), drivers.resolve('')]), ['overlayfs', 'overlayfs']);
    clock = 999;
    assert.equal(await drivers.resolve(''), 'overlayfs');
    assert.deepEqual(service.asked, ['']);
  });

  it('asks again once an answer is older than its lifetime, and sees a new default', async () => {
    const service = new FakeSnapshotter();
    const drivers = new CachedDriverResolver(service, 1000, now);
    assert.equal(await drivers.resolve(''), 'overlayfs');
    service.defaultDriver = 'native';
    clock = 1000;
    assert.equal(await drivers.resolve(''), 'native');
    assert.deepEqual(service.asked, ['', '']);
  });

  it('keeps no failure: a snapshotter that was not up yet is asked again at the next request', async () => {
    const service = new FakeSnapshotter();
    const drivers = new CachedDriverResolver(service, 1000, now);
    service.down = true;
    await assert.rejects(drivers.resolve(''), /no service answers/);
    service.down = false;
    assert.equal(await drivers.resolve(''), 'overlayfs');
    assert.deepEqual(service.asked, ['', '']);
  });
});
