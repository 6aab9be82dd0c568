/**
 * A throw-away containerd-lite (and, when asked, a snapshotter service with the native driver)
 * serving on unix sockets in a temp instance, with the light clients pointed at it. Teardown
 * shuts both down and removes the directory, also after a failed test.
 */
import { type ServerHandle, WireClient, createLogger, serveUnix, serviceSocket } from '@ctl/proto';
import { ensureDir } from '@ctl/proto/fsutil';
import { type TempInstance, tempInstance } from '@ctl/proto/testing';
import { SnapshotsClient, createSnapshotterService } from '@ctl/snapshotter';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ContainersClient } from '../src/containers/client';
import { ContentClient } from '../src/content/client';
import { EventsClient } from '../src/events/client';
import { GcClient } from '../src/gc/client';
import { ImagesClient } from '../src/images/client';
import { LeasesClient } from '../src/leases/client';
import { NamespacesClient } from '../src/namespaces/client';
import { type ContainerdLite, type GcSettings, containerdLiteService } from '../src/service';

export interface Instance {
  tmp: TempInstance;
  wire: WireClient;
  /** In-process access to the stores and the collector. */
  local: ContainerdLite;
  content(ns?: string): ContentClient;
  containers(ns?: string): ContainersClient;
  events: EventsClient;
  images(ns?: string): ImagesClient;
  leases(ns?: string): LeasesClient;
  namespaces: NamespacesClient;
  gc: GcClient;
  /** The native driver of the snapshotter service, when one was started. */
  snapshots?: SnapshotsClient;
  blobFiles(): string[];
  ingestDirs(): string[];
  teardown(): Promise<void>;
}

export async function startInstance(options: { snapshotter?: boolean; drivers?: string[]; gc?: GcSettings } = {}): Promise<Instance> {
  const drivers = options.drivers ?? ['native'];
  const tmp = tempInstance('ctl-cdl-');
  ensureDir(tmp.state);
  const logger = createLogger('test', 'error');
  const handles: ServerHandle[] = [];
  const wires: WireClient[] = [];
  const teardown = async (): Promise<void> => {
    for (const w of wires) w.close();
    for (const h of handles.reverse()) await h.shutdown(1000);
    tmp.remove();
  };
  try {
    if (options.snapshotter) {
      const env = process.env;
      process.env = { ...env, CTL_SNAPSHOTTER_DRIVERS: drivers.join(','), CTL_SNAPSHOTTER_DEFAULT: drivers[0] };
      try {
        handles.push(await serveUnix(serviceSocket(tmp, 'snapshotter'), await createSnapshotterService({ dirs: tmp, logger }), logger));
      } finally {
        process.env = env;
      }
    }
    let local: ContainerdLite | undefined;
    const parts = await containerdLiteService(options.gc ?? {}, (p) => (local = p))({ dirs: tmp, logger });
    handles.push(await serveUnix(serviceSocket(tmp, 'containerd-lite'), parts, logger));
    const wire = new WireClient(serviceSocket(tmp, 'containerd-lite'));
    wires.push(wire);
    let snapshots: SnapshotsClient | undefined;
    if (options.snapshotter) {
      const snapWire = new WireClient(serviceSocket(tmp, 'snapshotter'));
      wires.push(snapWire);
      snapshots = new SnapshotsClient(snapWire, 'native');
    }
    const contentRoot = join(tmp.root, 'containerd-lite', 'content');
    return {
      tmp,
      wire,
      local: local!,
      content: (ns = 'default') => new ContentClient(wire, ns),
      containers: (ns = 'default') => new ContainersClient(wire, ns),
      events: new EventsClient(wire),
      images: (ns = 'default') => new ImagesClient(wire, ns),
      leases: (ns = 'default') => new LeasesClient(wire, ns),
      namespaces: new NamespacesClient(wire),
      gc: new GcClient(wire),
      snapshots,
      blobFiles: () => readdirSync(join(contentRoot, 'blobs', 'sha256')).sort(),
      ingestDirs: () => readdirSync(join(contentRoot, 'ingest')).filter((n) => !n.startsWith('.')),
      teardown,
    };
  } catch (err) {
    await teardown();
    throw err;
  }
}
