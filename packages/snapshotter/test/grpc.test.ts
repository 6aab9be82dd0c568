import { WireClient, createLogger, serveUnix, serviceSocket, type ServerHandle } from '@ctl/proto';
import { ensureDir } from '@ctl/proto/fsutil';
import { tempInstance } from '@ctl/proto/testing';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SnapshotsClient } from '../src/client';
import { createSnapshotterService } from '../src/service';
import { describeConformance } from './conformance';

// The same suite through the gRPC service and the client the CLI uses.
describeConformance('gRPC client (overlayfs)', async () => {
  const tmp = tempInstance('ctl-snap-grpc-');
  ensureDir(tmp.state);
  const env = process.env;
  process.env = { ...env, CTL_SNAPSHOTTER_DRIVERS: 'overlayfs,native' };
  let handle: ServerHandle;
  try {
    const parts = await createSnapshotterService({ dirs: tmp, logger: createLogger('test', 'error') });
    handle = await serveUnix(serviceSocket(tmp, 'snapshotter'), parts, createLogger('test', 'error'));
  } finally {
    process.env = env;
  }
  const wire = new WireClient(serviceSocket(tmp, 'snapshotter'));
  const snapshots = join(tmp.root, 'snapshotter', 'overlayfs', 'snapshots');
  return {
    snapshotter: new SnapshotsClient(wire, 'overlayfs'),
    onDisk: async () => {
      try {
        return readdirSync(snapshots);
      } catch {
        return [];
      }
    },
    teardown: async () => {
      wire.close();
      await handle.shutdown(1000);
      tmp.remove();
    },
  };
});
