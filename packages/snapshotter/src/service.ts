import { type ServiceFactory, openDatabase, serviceRoot } from '@ctl/proto';
import { join } from 'node:path';
import { readConfig } from './config';
import { driversRegistration, snapshotsRegistration, systemRegistration } from './grpc';
import { SCHEMA } from './layout';
import { openSnapshotters } from './snapshotters';

/**
 * The snapshotter service's parts: its database, its drivers, containerd's Snapshots API over them,
 * our Drivers API, which names the driver a request reaches, and our System API (Check) (Version and Health are added by
 * the server for every service).
 */
export const createSnapshotterService: ServiceFactory = async ({ dirs, logger }) => {
  const root = serviceRoot(dirs, 'snapshotter');
  const db = await openDatabase(join(root, 'meta'), SCHEMA);
  try {
    const snapshotters = await openSnapshotters(root, db, readConfig(root), logger);
    logger.info('drivers loaded', { drivers: snapshotters.names(), default: snapshotters.defaultName });
    return {
      name: 'snapshotter',
      registrations: [snapshotsRegistration(snapshotters), driversRegistration(snapshotters), systemRegistration(snapshotters)],
      close: async () => {
        await snapshotters.close();
        await db.close();
      },
    };
  } catch (err) {
    await db.close();
    throw err;
  }
};
