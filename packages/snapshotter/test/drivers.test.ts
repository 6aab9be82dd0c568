import { openDatabase } from '@ctl/proto';
import { ensureDir } from '@ctl/proto/fsutil';
import { type TempInstance, tempInstance } from '@ctl/proto/testing';
import { join } from 'node:path';
import { nativeDriver } from '../src/drivers/native/register';
import { overlayfsDriver } from '../src/drivers/overlayfs/register';
import { SCHEMA } from '../src/layout';
import { MetaSnapshotter } from '../src/metadata';
import type { DriverRegistration } from '../src/drivers/driver';
import { describeConformance } from './conformance';

export function localSubject(registration: DriverRegistration, prepareRoot?: (tmp: TempInstance) => Promise<string>) {
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

describeConformance('overlayfs driver', localSubject(overlayfsDriver));
describeConformance('native driver', localSubject(nativeDriver));
