import { SCHEMA_VERSION_KEY, createLogger, openDatabase, serviceRoot } from '@ctl/proto';
import { type TempInstance, tempInstance } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { SCHEMA } from './layout';
import { createSnapshotterService } from './service';

describe('snapshotter service', () => {
  let tmp: TempInstance;
  beforeEach(() => {
    tmp = tempInstance();
  });
  afterEach(() => tmp.remove());

  it('keeps its own versioned database under the instance root', async () => {
    const parts = await createSnapshotterService({ dirs: tmp, logger: createLogger('test', 'error') });
    await parts.close();
    const db = await openDatabase(join(serviceRoot(tmp, 'snapshotter'), 'meta'), SCHEMA);
    try {
      assert.equal(await db.get(SCHEMA_VERSION_KEY), SCHEMA.version);
    } finally {
      await db.close();
    }
  });

  it('refuses a database from a newer schema', async () => {
    const dir = join(serviceRoot(tmp, 'snapshotter'), 'meta');
    const db = await openDatabase(dir, SCHEMA);
    await db.put(SCHEMA_VERSION_KEY, SCHEMA.version + 1);
    await db.close();
    await assert.rejects(createSnapshotterService({ dirs: tmp, logger: createLogger('test', 'error') }), /newer than this build/);
  });
});
