import { type ServiceFactory, cgroupParent, loadContracts, openDatabase, serviceRoot } from '@ctl/proto';
import { join } from 'node:path';
import { createDrivers } from './drivers';
import { networksRegistration } from './grpc';
import { Ipam } from './ipam';
import { SCHEMA } from './layout';
import { NetworkManager } from './manager';
import { NetworkResolvers } from './resolvers';
import { NetdStore } from './store';

/**
 * The netd service's parts: its database, its drivers and ctl.netd.v1.Networks over them (Version
 * and Health are added by the server for every service), and the resolvers of networks with DNS
 * (resolvers.ts). Before it serves, the host is made to match the records again
 * (manager.reconcile), as after a crash.
 */
export const createNetdService: ServiceFactory = async ({ dirs, logger }) => {
  const root = serviceRoot(dirs, 'netd');
  const db = await openDatabase(join(root, 'meta'), SCHEMA);
  const resolvers = new NetworkResolvers(logger);
  logger.debug('database open', { location: db.location });
  try {
    const store = new NetdStore(db);
    // What this instance makes on the host is named as its cgroup parent is: "ctl", or "ctl-<12 hex>" for another root.
    const instance = cgroupParent(dirs).slice(1);
    const drivers = createDrivers({ instance, ipam: new Ipam(store), root, logger });
    const manager = new NetworkManager(store, drivers, logger, resolvers);
    await manager.reconcile();
    return {
      name: 'netd',
      registrations: [networksRegistration(loadContracts(), manager)],
      close: async () => {
        await resolvers.close();
        await db.close();
      },
    };
  } catch (err) {
    await resolvers.close();
    await db.close();
    throw err;
  }
};
