import { strict as assert } from 'node:assert';
import type { Resources__Output } from '@ctl/proto/generated/ctl/run/v1/Resources';
import { NO_LIMITS, limitsKey } from './run-step';

/** A Resources message as the wire decodes an empty one: defaults, no optional field. */
const EMPTY: Resources__Output = {
  cpusetCpus: '',
  cpusetMems: '',
  deviceReadBps: [],
  deviceWriteBps: [],
  deviceReadIops: [],
  deviceWriteIops: [],
};

describe('RUN limits in the cache key', () => {
  it('no limits, and an empty message, add nothing to a key (the keys of builds without limits stay)', () => {
    assert.equal(limitsKey(NO_LIMITS), undefined);
    assert.equal(limitsKey({ resources: EMPTY, rlimits: [] }), undefined);
  });

  it('only what is set, so that the same limits give the same key whatever else the message carried', () => {
    const key = limitsKey({
      resources: { ...EMPTY, memoryBytes: 1 << 26, cpusetCpus: '0', _memoryBytes: 'memoryBytes' } as Resources__Output,
      rlimits: [{ type: 'RLIMIT_NOFILE', soft: 10, hard: 20 }],
      shmSizeBytes: 1024,
    });
    assert.deepEqual(key, { resources: { memoryBytes: 1 << 26, cpusetCpus: '0' }, rlimits: [['RLIMIT_NOFILE', 10, 20]], shm: 1024 });
    assert.notDeepEqual(limitsKey({ resources: { ...EMPTY, memoryBytes: 1 << 27 }, rlimits: [] }), key);
  });
});
