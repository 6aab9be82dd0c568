import { openDatabase } from '@ctl/proto';
import { ensureDir } from '@ctl/proto/fsutil';
import { type TempInstance, tempInstance } from '@ctl/proto/testing';
import { join } from 'node:path';
import type { DriverRegistration } from '../src/drivers/driver';
import { SCHEMA } from '../src/layout';
import { MetaSnapshotter } from '../src/metadata';
import type { ConformanceSubject } from './conformance';

/** A subject for the conformance suite: one driver behind a MetaSnapshotter, in a temp dir. */
export function localSubject(
  registration: DriverRegistration,
  prepareRoot?: (tmp: TempInstance) => Promise<string>,
): () => Promise<ConformanceSubject> {
  return async () => {
    const tmp = tempInstance('ctl-snap-');
    const root = prepareRoot ? await prepareRoot(tmp) : join(tmp.root, registration.name);
    ensureDir(root);
    const db = await openDatabase(join(tmp.root, 'meta'), SCHEMA);
    const driver = await registration.open({ root });
    const snapshotter = await MetaSnapshotter.open(db, driver);
    return {
      snapshotter,
      onDisk: () => driver.onDisk(),
      teardown: async () => {
        await snapshotter.settled();
        await db.close();
        tmp.remove();
      },
    };
  };
}
