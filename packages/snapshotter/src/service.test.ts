import { SCHEMA_VERSION_KEY, createLogger, openDatabase, serviceRoot } from '@ctl/proto';
import { ensureDir } from '@ctl/proto/fsutil';
import { type TempInstance, tempInstance } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
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

  it('refuses name mappings to drivers not loaded, and of names that are taken', async () => {
    const env = process.env;
    const start = (names: Record<string, string>) => {
      writeFileSync(
        join(serviceRoot(tmp, 'snapshotter'), 'config.json'),
        JSON.stringify({ drivers: ['native'], default: 'native', names }),
      );
      return createSnapshotterService({ dirs: tmp, logger: createLogger('test', 'error') });
    };
    try {
      process.env = { ...env, CTL_SNAPSHOTTER_DRIVERS: '', CTL_SNAPSHOTTER_NAMES: '' };
      ensureDir(serviceRoot(tmp, 'snapshotter'));
      await assert.rejects(start({ mysnap: 'overlayfs' }), /"mysnap" maps to driver "overlayfs", which is not loaded/);
      for (const taken of ['ctl', 'ctl-x', 'overlayfs']) await assert.rejects(start({ [taken]: 'native' }), /cannot be mapped/);
      await (await start({ mysnap: 'native' })).close();
      process.env.CTL_SNAPSHOTTER_NAMES = 'mysnap';
      await assert.rejects(start({}), /"mysnap": want NAME=DRIVER/);
    } finally {
      process.env = env;
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
