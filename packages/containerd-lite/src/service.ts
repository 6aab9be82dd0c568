import { type ServiceFactory, loadContracts, openDatabase, serviceRoot } from '@ctl/proto';
import { join } from 'node:path';
import { contentRegistration } from './content/grpc';
import { ContentStore } from './content/store';
import { SCHEMA } from './layout';
import { namespacesRegistration } from './namespaces/grpc';
import { NamespaceStore } from './namespaces/store';

/** containerd-lite's parts: its database and the containerd services it implements so far. */
export const createContainerdLiteService: ServiceFactory = async ({ dirs, logger }) => {
  const root = serviceRoot(dirs, 'containerd-lite');
  const db = await openDatabase(join(root, 'meta'), SCHEMA);
  try {
    logger.debug('database open', { location: db.location });
    const namespaces = new NamespaceStore(db);
    const content = await ContentStore.open(db, join(root, 'content'));
    namespaces.registerInUseCheck((ns) => content.inUse(ns));
    const contracts = loadContracts();
    return {
      name: 'containerd-lite',
      registrations: [namespacesRegistration(contracts, namespaces), contentRegistration(contracts, content)],
      close: () => db.close(),
    };
  } catch (err) {
    await db.close();
    throw err;
  }
};
