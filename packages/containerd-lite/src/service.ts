import { type ServiceFactory, loadContracts, openDatabase, serviceRoot } from '@ctl/proto';
import { join } from 'node:path';
import { SCHEMA } from './layout';
import { namespacesRegistration } from './namespaces/grpc';
import { NamespaceStore } from './namespaces/store';

/** containerd-lite's parts: its database and the containerd services it implements so far. */
export const createContainerdLiteService: ServiceFactory = async ({ dirs, logger }) => {
  const root = serviceRoot(dirs, 'containerd-lite');
  const db = await openDatabase(join(root, 'meta'), SCHEMA);
  logger.debug('database open', { location: db.location });
  const namespaces = new NamespaceStore(db);
  return {
    name: 'containerd-lite',
    registrations: [namespacesRegistration(loadContracts(), namespaces)],
    close: () => db.close(),
  };
};
