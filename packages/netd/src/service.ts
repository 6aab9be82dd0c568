import { type ServiceFactory, cgroupParent, loadContracts, openDatabase, serviceRoot } from '@ctl/proto';
import { join } from 'node:path';
import { createDrivers } from './drivers';
import { networksRegistration } from './grpc';
import { Ipam } from './ipam';
import { SCHEMA } from './layout';
import { NetworkManager } from './manager';
import { NetdStore } from './store';

/**
 * The netd service's parts: its database, its drivers and ctl.netd.v1.Networks over them (Version
 * and Health are added by the server for every service). Before it serves, the host is made to
 * match the records again (manager.reconcile), as after a crash.
 */
export const createNetdService: ServiceFactory = async ({ dirs, logger }) => {
  const root = serviceRoot(dirs, 'netd');
  const db = await openDatabase(join(root, 'meta'), SCHEMA);
  logger.debug('database open', { location: db.location });
  try {
    const store = new NetdStore(db);
    // What this instance makes on the host is named as its cgroup parent is: "ctl", or "ctl-<12 hex>" for another root.
    const instance = cgroupParent(dirs).slice(1);
    const drivers = createDrivers({ instance, ipam: new Ipam(store), root, logger });
    const manager = new NetworkManager(store, drivers, logger);
    await manager.reconcile();
    return {
      name: 'netd',
      registrations: [networksRegistration(loadContracts(), manager)],
      close: () => db.close(),
    };
  } catch (err) {
    await db.close();
    throw err;
  }
};
