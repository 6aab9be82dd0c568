import { openDatabase } from '@ctl/proto';
import { ensureDir } from '@ctl/proto/fsutil';
import { type TempInstance, tempInstance } from '@ctl/proto/testing';
import { epochNanos } from '@ctl/proto/time';
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { nativeDriver } from '../src/drivers/native/register';
import { SCHEMA, infoKey } from '../src/layout';
import { MetaSnapshotter } from '../src/metadata';

describe('snapshot records', () => {
  let tmp: TempInstance;
  beforeEach(() => {
    tmp = tempInstance('ctl-snap-meta-');
  });
  afterEach(() => tmp.remove());

  it('reads records stored with millisecond times, as builds before nanosecond times wrote them', async () => {
    const db = await openDatabase(join(tmp.root, 'meta'), SCHEMA);
    try {
      const record = {
        id: '1',
        kind: 'COMMITTED',
        parent: '',
        labels: {},
        created: '2024-05-06T07:08:09.123Z',
        updated: '2024-05-06T07:08:10.5Z',
      };
      await db.put(infoKey('native', 'old'), record);
      const root = join(tmp.root, 'native');
      ensureDir(root);
      const s = await MetaSnapshotter.open(db, await nativeDriver.open({ root }));
      const info = await s.stat('old');
      assert.equal(epochNanos(info.createdAt), 1_714_979_289_123_000_000n);
      assert.equal(epochNanos(info.updatedAt), 1_714_979_290_500_000_000n);
      await s.settled();
    } finally {
      await db.close();
    }
  });
});
