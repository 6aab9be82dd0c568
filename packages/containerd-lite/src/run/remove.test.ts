import { ErrorKind, failedPrecondition, isKind, unavailable } from '@ctl/proto/errors';
import { strict as assert } from 'node:assert';
import { Runner, type RunnerDeps } from './runner';

/**
 * Runner.remove with its services stood in for: the order in which a container's parts go. The
 * network goes with the record (the store's release, run by its delete: test/containers.test.ts).
 */
function runner(removeTask: (force: boolean) => Promise<void>) {
  const events: string[] = [];
  const deps = {
    containers: () => ({
      get: async (id: string) => ({ id, labels: { 'ctl.network.mode': 'bridge' }, snapshotKey: '' }),
      delete: async () => void events.push('record deleted'),
    }),
    removeTask: async (_ns: string, _id: string, force: boolean) => {
      // the second call (after the record went) is the race guard: not what is tested here
      if (events.includes('task removed')) return;
      await removeTask(force);
      events.push('task removed');
    },
    volumes: { usedBy: () => [] },
  };
  return { runner: new Runner(deps as unknown as RunnerDeps), events };
}

describe('removing a container: its record, and so its network, only once its task is gone', () => {
  it('forced, leaves the record (and its network) alone when the task cannot be removed (the container stays whole)', async () => {
    const { runner: r, events } = runner(async () => Promise.reject(unavailable('the shim does not answer')));
    await assert.rejects(r.remove('ns', 'c1', true), /shim does not answer/);
    assert.deepEqual(events, []);
  });

  it('unforced, leaves the record (and its network) of a running container alone', async () => {
    const { runner: r, events } = runner(async (force) => {
      if (!force) throw failedPrecondition('running');
    });
    await assert.rejects(r.remove('ns', 'c1', false), (err: unknown) => isKind(err, ErrorKind.FailedPrecondition));
    assert.deepEqual(events, []);
  });
});
