import {
  ErrorKind,
  type ServiceFactory,
  WireClient,
  cgroupParent,
  failedPrecondition,
  found,
  isKind,
  loadContracts,
  namespaceFromMetadata,
  openDatabase,
  serviceRoot,
  serviceSocket,
} from '@ctl/proto';
import { allows, isActive } from '@ctl/proto/task-status';
import { DriversClient, SnapshotsClient, SnapshotterSystemClient } from '@ctl/snapshotter/client';
import { snapshotsService } from '@ctl/snapshotter/wire';
import { join } from 'node:path';
import { NetworksClient } from '@ctl/netd/client';
import { containersRegistration } from './containers/grpc';
import { ContainerStore } from './containers/store';
import { contentRegistration } from './content/grpc';
import { Differ } from './diff/differ';
import { diffRegistration } from './diff/grpc';
import { Exchange } from './events/exchange';
import { eventsRegistration } from './events/grpc';
import { ContentStore } from './content/store';
import { Collector, type CollectorOptions } from './gc/collector';
import { gcRegistration } from './gc/grpc';
import { findDataProblems, snapshotterProblems } from './system/check';
import { findNetworkProblems, networkInventory } from './system/network';
import { systemRegistration } from './system/grpc';
import { GcRelay } from './gc/gc';
import { GcLock } from './gc/lock';
import { imagesRegistration } from './images/grpc';
import { ImageStore } from './images/store';
import { SCHEMA } from './layout';
import { CachedDriverResolver } from './snapshotter-drivers';
import { leasesRegistration } from './leases/grpc';
import { LeaseStore } from './leases/store';
import { NamespacedSnapshotter } from './snapshots/namespaced';
import { namespacesRegistration } from './namespaces/grpc';
import { NamespaceStore } from './namespaces/store';
import { type TaskManager, createTaskManager } from './tasks/manager';
import { RestartSupervisor } from './restart/supervisor';
import { runnerRegistration } from './run/grpc';
import { Committer } from './run/commit';
import { ContainerNetworking } from './run/network';
import { isNetns } from '@ctl/runtime-native/netns';
import { networksOf } from './run/network-labels';
import { Runner } from './run/runner';
import type { UnpackTarget } from './unpack/unpacker';
import type { Resource } from './leases/leases';
import { attachRegistration } from './tasks/attach-grpc';
import { tasksRegistration } from './tasks/grpc';
import { transferRegistration } from './transfer/grpc';
import { BuildCache } from './build/cache';
import { Executor } from './build/executor';
import { builderRegistration, removeLeftoverContexts } from './build/grpc';
import { volumesRegistration } from './volumes/grpc';
import { VolumeStore } from './volumes/store';
import { Transfer } from './transfer/transfer';

/** Settings of the collector a test (or an embedder) may change. */
export type GcSettings = Pick<CollectorOptions, 'ingestExpiryMs' | 'delayMs' | 'snapshotterTimeoutMs' | 'snapshotter'>;

/** The stores and the collector of one containerd-lite instance, for in-process users (unpacker, containers, tasks). */
export interface ContainerdLite {
  /** The event exchange: other services publish through it (it is a Publisher) and subscribe to it in-process. */
  events: Exchange;
  namespaces: NamespaceStore;
  containers: ContainerStore;
  content: ContentStore;
  images: ImageStore;
  leases: LeaseStore;
  volumes: VolumeStore;
  gc: Collector;
  lock: GcLock;
}

/**
 * Ends a container's task before the container goes: a stopped one is deleted, a running or
 * paused one only with force (killed, waited for, deleted); FailedPrecondition otherwise.
 */
async function removeTask(tasks: TaskManager, ns: string, id: string, force: boolean): Promise<void> {
  let state;
  try {
    state = await tasks.get(ns, id);
  } catch (err) {
    if (isKind(err, ErrorKind.NotFound)) return;
    throw err;
  }
  if (isActive(state.status)) {
    if (!force) throw failedPrecondition(`container ${id} is running`);
    const exited = tasks.wait(ns, id);
    if (allows(state.status, 'resume')) await tasks.resume(ns, id).catch(() => undefined);
    await tasks.kill(ns, id, 9, { all: true }).catch((err: unknown) => {
      if (!isKind(err, ErrorKind.NotFound)) throw err;
    });
    await exited;
  }
  await tasks.delete(ns, id);
}

/**
 * containerd-lite's parts: its database and the services it implements. The wiring, in order, each
 * part made from what it needs (a later part never reaches back into an earlier one's fields):
 *
 *   part        made from                                                      served as (gRPC)
 *   events      logger                                                         containerd Events
 *   stores      db, GC lock, GC trigger (relay, bound to gc below), events     Namespaces, Content, Images, Leases,
 *                                                                              Containers, ctl Volumes
 *   gc          db, lock, content, images, leases, the snapshotter's clients   ctl GC (and bound to the stores' relay);
 *               then the leases of earlier runs' operations go (collected soon)
 *   tasks       dirs, containers, events (recovers the shims first)            containerd Tasks, ctl Attach
 *   unpack      content, gc, snapshotter's Drivers + Snapshots, differ         containerd Diff (the differ)
 *   restarts    events, containers, namespaces, tasks, snapshots               —
 *   transfer    content, images, leases, unpack                                ctl Transfer
 *   networking  netd's client, tasks (container: mode), containers; released    —
 *               by every container delete, restored by every task create
 *   runner      volumes, stores, unpack, snapshots, tasks, restarts, networking ctl Run (with committer)
 *   committer   stores, unpack, tasks                                          ctl Run
 *   build       db (cache records), stores, unpack, runner, tasks, transfer    ctl Build
 *   check       gc's inventory, tasks' leftovers, networking's netns files and  ctl System
 *               netd's endpoints
 *
 * Checks between stores (in use, delete checks, GC roots) are registered right after the parts they join.
 */
export function containerdLiteService(settings: GcSettings = {}, onOpen?: (parts: ContainerdLite) => void): ServiceFactory {
  return async ({ dirs, logger }) => {
    const root = serviceRoot(dirs, 'containerd-lite');
    const db = await openDatabase(join(root, 'meta'), SCHEMA);
    const wires: WireClient[] = [];
    let collector: Collector | undefined;
    let taskManager: TaskManager | undefined;
    let supervisor: RestartSupervisor | undefined;
    try {
      logger.debug('database open', { location: db.location });
      const events = new Exchange({ logger });
      const lock = new GcLock();
      // The stores schedule collections after deletes; the collector reads the stores, so it comes after them.
      const gcRelay = new GcRelay();
      const storeDeps = { lock, gc: gcRelay, publisher: events };
      const namespaces = new NamespaceStore(db, { publisher: events });
      const content = await ContentStore.open(db, join(root, 'content'), storeDeps);
      const images = new ImageStore(db, storeDeps);
      const leases = new LeaseStore(db, { lock, gc: gcRelay });
      const containers = new ContainerStore(db, storeDeps);
      const volumes = await VolumeStore.open(db, join(root, 'volumes'));
      // A volume is in use while a container's spec binds its _data (however it got there).
      volumes.registerUsage(async (ns) => {
        const usage = new Map<string, string[]>();
        for (const c of await containers.list(ns)) {
          for (const name of volumes.usedBy(ns, c)) usage.set(name, [...(usage.get(name) ?? []), c.id]);
        }
        return usage;
      });
      // One connection to the snapshotter for everything here (collections, unpacks, tasks'
      // mounts); it reconnects by itself when the snapshotter restarts.
      const snapshotsWire = new WireClient(serviceSocket(dirs, 'snapshotter'));
      wires.push(snapshotsWire);
      const snapshots = (driver: string): SnapshotsClient => new SnapshotsClient(snapshotsWire, driver);
      const gc = new Collector({ db, lock, content, images, leases, logger, snapshotter: snapshots, ...settings });
      collector = gc;
      gcRelay.bind(gc);
      // Operations of an earlier run died with it (their helpers too): their leases hold nothing now.
      const released = await leases.releaseEarlierRuns();
      if (released) {
        logger.info('released the leases of operations that died with an earlier run', { leases: released });
        gc.schedule();
      }
      // A container holds its snapshot (provider only reads, as the collector's lock requires).
      gc.registerRoots(() => containers.roots());
      namespaces.registerInUseCheck((ns) => containers.inUse(ns));
      namespaces.registerInUseCheck((ns) => content.inUse(ns));
      namespaces.registerInUseCheck((ns) => images.inUse(ns));
      namespaces.registerInUseCheck((ns) => leases.inUse(ns));
      namespaces.registerInUseCheck((ns) => gc.snapshotsInUse(ns));
      namespaces.registerInUseCheck((ns) => volumes.inUse(ns));
      onOpen?.({ events, namespaces, containers, content, images, leases, volumes, gc, lock });
      // Tasks recover the shims a previous run left (restart safety) before serving.
      const tasks = await createTaskManager({ dirs, logger, containers: (ns, id) => containers.namespace(ns).get(id), publisher: events });
      taskManager = tasks;
      // A container with a task cannot go (containerd's rule); its log goes with it.
      containers.registerDeleteCheck(async (ns, id) =>
        (await found(tasks.get(ns, id))) ? 'it has a task: delete the task first' : undefined,
      );
      containers.onDeleted((ns, id) => tasks.removeLogs(ns, id));
      // Labels and GC need the driver's own name, not "" or "ctl-<driver>": the snapshotter says which.
      const drivers = new CachedDriverResolver(new DriversClient(snapshotsWire));
      const tmp = join(root, 'tmp');
      const differ = new Differ(tmp);
      const unpackTarget = async (ns: string, requested: string, hold: (resource: Resource) => Promise<void>): Promise<UnpackTarget> => {
        const snapshotter = await drivers.resolve(requested);
        await gc.recordSnapshotter(snapshotter);
        return {
          namespace: ns,
          content: content.namespace(ns),
          blobPath: (digest) => content.blobPath(digest),
          snapshotter,
          snapshots: snapshots(snapshotter),
          differ,
          hold,
        };
      };
      // Restart policies (--restart): after the task manager, which has recovered the tasks by now.
      const late: { removeContainer?: (ns: string, id: string) => Promise<void> } = {};
      supervisor = new RestartSupervisor({
        events,
        containers: (ns) => containers.namespace(ns),
        namespaces: async () => (await namespaces.list()).map((n) => n.name),
        tasks,
        mounts: (snapshotter, key) => snapshots(snapshotter).mounts(key),
        // the runner comes later (it runs its removals in the supervisor's queue)
        remove: (ns, id) => late.removeContainer?.(ns, id) ?? Promise.resolve(),
        logger,
      });
      const restarts = supervisor;
      // netd over gRPC (never in-process), one connection, as for the snapshotter.
      const netdWire = new WireClient(serviceSocket(dirs, 'netd'));
      wires.push(netdWire);
      const networking = new ContainerNetworking({
        networks: (ns) => new NetworksClient(netdWire, ns),
        netnsDir: join(dirs.state, 'netns'),
        filesDir: join(root, 'containers'),
        taskPid: async (ns, id) => (await tasks.get(ns, id).catch(() => undefined))?.pid || undefined,
        labels: async (ns, id) =>
          (
            await containers
              .namespace(ns)
              .get(id)
              .catch(() => undefined)
          )?.labels,
      });
      // Whichever API removes a container (ctl rm, Containers.Delete as `ctr c rm`), its network goes with it.
      containers.registerRelease((ns, c) => networking.tearDown(ns, c.id, ContainerNetworking.attached(c.labels), true));
      containers.onDeleted((ns, id) => networking.deleted(ns, id));
      // Networks an earlier run made for containers it never recorded (killed in between) go now;
      // in the background, as netd may start after us. system check waits for it.
      const orphansReleased = namespaces
        .list()
        .then((list) => networking.releaseOrphans(list.map((n) => n.name)))
        .then(
          (released) => released.length && logger.info('released the networks of containers an earlier run never recorded', { released }),
          (err: unknown) => logger.warn('release of unrecorded containers’ networks', { error: (err as Error).message }),
        );
      // A start after a reboot (or after netd lost the endpoints) makes the container's network again.
      tasks.registerPrepare(async (ns, id) => {
        const changed = await networking.restore(ns, id);
        if (changed) {
          const paths = Object.keys(changed).map((k) => `labels.${k}`);
          await containers.namespace(ns).update({ id, labels: changed }, paths);
        }
      });
      const transfer = new Transfer({ content, images: (ns) => images.namespace(ns), leases: (ns) => leases.namespace(ns), unpackTarget });
      const runner = new Runner({
        volumes,
        content: (ns) => content.namespace(ns),
        images: (ns) => images.namespace(ns),
        leases: (ns) => leases.namespace(ns),
        containers: (ns) => containers.namespace(ns),
        unpackTarget,
        snapshots,
        createTask: (ns, id, options) => tasks.create(ns, id, options),
        startTask: (ns, id) => tasks.start(ns, id),
        removeTask: (ns, id, force) => removeTask(tasks, ns, id, force),
        locateTask: (ns, id, execId) => tasks.locate(ns, id, execId),
        tmpRoot: tmp,
        cgroupParent: cgroupParent(dirs),
        exclusive: (ns, id, fn) => restarts.exclusive(ns, id, fn),
        networking,
      });
      late.removeContainer = (ns, id) => runner.remove(ns, id, false, true);
      const committer = new Committer({
        content: (ns) => content.namespace(ns),
        images: (ns) => images.namespace(ns),
        leases: (ns) => leases.namespace(ns),
        containers: (ns) => containers.namespace(ns),
        unpackTarget,
        freeze: async (ns, id) => {
          const state = await tasks.get(ns, id).catch(() => undefined);
          if (!state || !allows(state.status, 'pause')) return async () => undefined;
          await tasks.pause(ns, id);
          return () => tasks.resume(ns, id).catch(() => undefined);
        },
        tmpRoot: tmp,
      });
      const buildCache = new BuildCache(db, { leases: (ns) => leases.namespace(ns), content: (ns) => content.namespace(ns) });
      namespaces.registerInUseCheck((ns) => buildCache.inUse(ns));
      await removeLeftoverContexts(tmp);
      const executor = new Executor({
        content: (ns) => content.namespace(ns),
        images: (ns) => images.namespace(ns),
        leases: (ns) => leases.namespace(ns),
        containers: (ns) => containers.namespace(ns),
        unpackTarget,
        runner,
        tasks: (ns) => tasks.namespace(ns),
        attachPath: (ns, id) => tasks.attachPath(ns, id),
        oomKilled: (ns, id) => tasks.locate(ns, id).oomKilled,
        cache: buildCache,
        cacheMountsRoot: join(root, 'build-cache-mounts'),
        tmpRoot: tmp,
        pull: (ns, reference, platform, signal) =>
          transfer.pull(
            ns,
            { reference, platforms: [platform], allPlatforms: false, snapshotter: '', unpack: false },
            () => undefined,
            signal,
          ),
      });
      supervisor.start();
      const contracts = loadContracts();
      return {
        name: 'containerd-lite',
        registrations: [
          namespacesRegistration(contracts, namespaces),
          eventsRegistration(contracts, events),
          containersRegistration(contracts, containers),
          contentRegistration(contracts, content),
          imagesRegistration(contracts, images),
          leasesRegistration(contracts, leases),
          snapshotsService((name, metadata) => new NamespacedSnapshotter(snapshots(name), namespaceFromMetadata(metadata))),
          gcRegistration(contracts, gc),
          systemRegistration(contracts, async () => [
            ...(await orphansReleased.then(() => [])),
            ...findDataProblems(await gc.inventory()),
            ...tasks.leftovers([root, join(dirs.state, 'containerd-lite')]),
            ...(await snapshotterProblems(() => new SnapshotterSystemClient(snapshotsWire).check())),
            ...findNetworkProblems(
              await networkInventory({
                netnsDir: join(dirs.state, 'netns'),
                namespaces: async () => (await namespaces.list()).map((n) => n.name),
                containers: async (ns) =>
                  Promise.all(
                    (await containers.list(ns)).map(async (c) => {
                      const status = (await tasks.get(ns, c.id).catch(() => undefined))?.status;
                      return {
                        id: c.id,
                        networks: networksOf(c.labels).length,
                        running: !!status && (isActive(status) || status === 'CREATED'),
                      };
                    }),
                  ),
                endpoints: (ns) => new NetworksClient(netdWire, ns).listEndpoints(),
                isLiveNetns: isNetns,
              }),
            ),
          ]),
          diffRegistration(contracts, content, differ, tmp),
          transferRegistration(contracts, transfer),
          tasksRegistration(contracts, tasks),
          attachRegistration(contracts, tasks),
          runnerRegistration(contracts, runner, committer),
          builderRegistration(contracts, executor, buildCache, tmp),
          volumesRegistration(contracts, volumes),
        ],
        endStreams: () => events.close(),
        close: async () => {
          supervisor?.close();
          events.close();
          taskManager?.close();
          await gc.close();
          for (const wire of wires) wire.close();
          await db.close();
        },
      };
    } catch (err) {
      supervisor?.close();
      taskManager?.close();
      await collector?.close();
      await db.close();
      throw err;
    }
  };
}

/** containerd-lite with the default collector settings. */
export const createContainerdLiteService: ServiceFactory = containerdLiteService();
