import { strict as assert } from 'node:assert';
import { sampleOf } from './ps';

describe('ps', () => {
  it("reads docker's figures from the runtime's stats (cgroup v1, no limit: the host's memory)", () => {
    const s = sampleOf({
      id: 'c',
      timestamp: new Date(1000),
      data: {
        type: 'stats',
        id: 'c',
        data: {
          cpu: { usage: { total: 5e9 } },
          memory: { usage: { usage: 10_000, limit: 9223372036854771712 }, raw: { total_inactive_file: 4000 } },
          pids: { current: 3 },
          blkio: {
            ioServiceBytesRecursive: [
              { op: 'Read', value: 7 },
              { op: 'Write', value: 9 },
            ],
          },
        },
      },
    });
    assert.deepEqual(
      { ...s, limit: s.limit > 10_000 },
      { id: 'c', at: 1000, cpuNs: 5e9, memory: 6000, limit: true, pids: 3, blockRead: 7, blockWrite: 9, netRx: 0, netTx: 0 },
    );
  });
});
