import { type ServiceFactory, WireClient, loadContracts, openDatabase, serviceRoot, serviceSocket } from '@ctl/proto';
import { driverName, readConfig } from '@ctl/snapshotter';
import { SnapshotsClient } from '@ctl/snapshotter/client';
import { join } from 'node:path';
import { contentRegistration } from './content/grpc';
import { Differ } from './diff/differ';
import { diffRegistration } from './diff/grpc';
import { ContentStore } from './content/store';
import { Collector, type CollectorOptions } from './gc/collector';
import { gcRegistration } from './gc/grpc';
import { GcLock } from './gc/lock';
import { imagesRegistration } from './images/grpc';
import { ImageStore } from './images/store';
import { SCHEMA } from './layout';
import { leasesRegistration } from './leases/grpc';
import { LeaseStore } from './leases/store';
import { namespacesRegistration } from './namespaces/grpc';
import { NamespaceStore } from './namespaces/store';
import { type TaskManager, type TaskManagerOptions, createTaskManager } from './tasks/manager';
import { tasksRegistration } from './tasks/grpc';
import { transferRegistration } from './transfer/grpc';
import { Transfer } from './transfer/transfer';

/** Settings of the collector a test (or an embedder) may change. */
export type GcSettings = Pick<CollectorOptions, 'ingestExpiryMs' | 'delayMs' | 'snapshotterTimeoutMs' | 'snapshotter'>;

/** The stores and the collector of one containerd-lite instance, for in-process users (unpacker, containers). */
export interface ContainerdLite {
  namespaces: NamespaceStore;
  content: ContentStore;
  images: ImageStore;
  leases: LeaseStore;
  gc: Collector;
  lock: GcLock;
}

/**
 * The Tasks service's dependencies, made from the other parts (the containers store, the events
 * exchange). Optional until the merge wires the real ones in; without it there is no Tasks service.
 */
export type TasksWiring = (parts: ContainerdLite) => Pick<TaskManagerOptions, 'containers' | 'publisher'>;

/** containerd-lite's parts: its database and the containerd services it implements so far. */
export function containerdLiteService(settings: GcSettings = {}, onOpen?: (parts: ContainerdLite) => void, tasks?: TasksWiring): ServiceFactory {
  return async ({ dirs, logger }) => {
    const root = serviceRoot(dirs, 'containerd-lite');
    const db = await openDatabase(join(root, 'meta'), SCHEMA);
    const wires: WireClient[] = [];
    let collector: Collector | undefined;
    let taskManager: TaskManager | undefined;
    try {
      logger.debug('database open', { location: db.location });
      const lock = new GcLock();
      const namespaces = new NamespaceStore(db);
      const content = await ContentStore.open(db, join(root, 'content'), { lock });
      const images = new ImageStore(db, { lock });
      const leases = new LeaseStore(db, { lock });
      const gc = new Collector({
        db,
        lock,
        content,
        images,
        leases,
        logger,
        snapshotter: (name) => {
          const wire = new WireClient(serviceSocket(dirs, 'snapshotter'));
          wires.push(wire);
          return new SnapshotsClient(wire, name);
        },
        ...settings,
      });
      collector = gc;
      content.gc = gc;
      images.gc = gc;
      leases.gc = gc;
      namespaces.registerInUseCheck((ns) => content.inUse(ns));
      namespaces.registerInUseCheck((ns) => images.inUse(ns));
      namespaces.registerInUseCheck((ns) => leases.inUse(ns));
      namespaces.registerInUseCheck((ns) => gc.snapshotsInUse(ns));
      onOpen?.({ namespaces, content, images, leases, gc, lock });
      // Tasks recover the shims a previous run left (restart safety) before serving.
      if (tasks) taskManager = await createTaskManager({ dirs, logger, ...tasks({ namespaces, content, images, leases, gc, lock }) });
      // The snapshotter service's default driver, read from the same settings it reads at start.
      const defaultSnapshotter = readConfig(serviceRoot(dirs, 'snapshotter')).default;
      const tmp = join(root, 'tmp');
      const differ = new Differ(tmp);
      const snapshotsWire = new WireClient(serviceSocket(dirs, 'snapshotter'));
      wires.push(snapshotsWire);
      const transfer = new Transfer({
        content,
        images: (ns) => images.namespace(ns),
        leases: (ns) => leases.namespace(ns),
        unpackTarget: async (ns, requested, hold) => {
          // Labels and GC need the driver's own name, not "" or "ctl-<driver>".
          const snapshotter = driverName(requested, defaultSnapshotter);
          await gc.recordSnapshotter(snapshotter);
          return { namespace: ns, content: content.namespace(ns), blobPath: (digest) => content.blobPath(digest), snapshotter, snapshots: new SnapshotsClient(snapshotsWire, snapshotter), differ, hold };
        },
      });
      const contracts = loadContracts();
      return {
        name: 'containerd-lite',
        registrations: [
          namespacesRegistration(contracts, namespaces),
          contentRegistration(contracts, content),
          imagesRegistration(contracts, images),
          leasesRegistration(contracts, leases),
          gcRegistration(contracts, gc),
          diffRegistration(contracts, content, differ, tmp),
          transferRegistration(contracts, transfer),
          ...(taskManager ? [tasksRegistration(contracts, taskManager)] : []),
        ],
        close: async () => {
          taskManager?.close();
          await gc.close();
          for (const wire of wires) wire.close();
          await db.close();
        },
      };
    } catch (err) {
      taskManager?.close();
      await collector?.close();
      await db.close();
      throw err;
    }
  };
}

/** containerd-lite with the default collector settings. */
export const createContainerdLiteService: ServiceFactory = containerdLiteService();
