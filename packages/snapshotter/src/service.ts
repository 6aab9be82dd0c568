import { type ServiceFactory, openDatabase, serviceRoot } from '@ctl/proto';
import { join } from 'node:path';
import { SCHEMA } from './layout';

/**
 * The snapshotter service's parts: its database and its gRPC services (Version and Health are added by
 * the server for every service).
 */
export const createSnapshotterService: ServiceFactory = async ({ dirs, logger }) => {
  const root = serviceRoot(dirs, 'snapshotter');
  const db = await openDatabase(join(root, 'meta'), SCHEMA);
  logger.debug('database open', { location: db.location });
  return {
    name: 'snapshotter',
    registrations: [],
    close: () => db.close(),
  };
};
