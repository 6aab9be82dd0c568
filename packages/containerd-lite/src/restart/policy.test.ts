import { strict as assert } from 'node:assert';
import { BACKOFF_MAX_MS, RestartLabel, backoffDelay, parseRestartPolicy, policyOf, restartLabels, shouldRestart } from './policy';

describe('restart policies', () => {
  it('parses --restart as docker does', () => {
    assert.deepEqual(parseRestartPolicy('no'), { name: 'no', maxRetries: 0 });
    assert.deepEqual(parseRestartPolicy('always'), { name: 'always', maxRetries: 0 });
    assert.deepEqual(parseRestartPolicy('unless-stopped'), { name: 'unless-stopped', maxRetries: 0 });
    assert.deepEqual(parseRestartPolicy('on-failure'), { name: 'on-failure', maxRetries: 0 });
    assert.deepEqual(parseRestartPolicy('on-failure:3'), { name: 'on-failure', maxRetries: 3 });
    for (const bad of ['bogus', '', 'on-failure:0', 'on-failure:-1', 'on-failure:x', 'always:2', 'on-failure:1:2']) {
      assert.throws(() => parseRestartPolicy(bad), /invalid restart policy/, bad);
    }
  });

  it('records a policy in labels and reads it back', () => {
    assert.deepEqual(restartLabels({ name: 'no', maxRetries: 0 }), {});
    const labels = restartLabels({ name: 'on-failure', maxRetries: 2 });
    assert.deepEqual(labels, { [RestartLabel.policy]: 'on-failure', [RestartLabel.max]: '2' });
    assert.deepEqual(policyOf(labels), { name: 'on-failure', maxRetries: 2 });
    assert.deepEqual(policyOf({ [RestartLabel.policy]: 'weird' }), { name: 'no', maxRetries: 0 });
  });

  it('decides from the exit status, the count and a stop by the user', () => {
    const onFailure = { [RestartLabel.policy]: 'on-failure', [RestartLabel.max]: '2' };
    assert.equal(shouldRestart(onFailure, 0), false);
    assert.equal(shouldRestart(onFailure, 1), true);
    assert.equal(shouldRestart({ ...onFailure, [RestartLabel.count]: '1' }, 1), true);
    assert.equal(shouldRestart({ ...onFailure, [RestartLabel.count]: '2' }, 1), false);
    assert.equal(shouldRestart({ [RestartLabel.policy]: 'always' }, 0), true);
    assert.equal(shouldRestart({ [RestartLabel.policy]: 'always', [RestartLabel.stoppedByUser]: 'true' }, 137), false);
    assert.equal(shouldRestart({ [RestartLabel.policy]: 'unless-stopped', [RestartLabel.stoppedByUser]: 'true' }, 1), false);
    assert.equal(shouldRestart({}, 1), false);
  });

  it('backs off from 100 ms, doubling, at most a minute', () => {
    assert.deepEqual([1, 2, 3, 4].map(backoffDelay), [100, 200, 400, 800]);
    assert.equal(backoffDelay(10), 51_200);
    assert.equal(backoffDelay(11), BACKOFF_MAX_MS);
    assert.equal(backoffDelay(1000), BACKOFF_MAX_MS);
  });
});
