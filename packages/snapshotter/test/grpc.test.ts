import { WireClient, createLogger, serveUnix, serviceSocket, type ServerHandle } from '@ctl/proto';
import { ErrorKind, errorKind } from '@ctl/proto/errors';
import { ensureDir } from '@ctl/proto/fsutil';
import { tempInstance } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SnapshotsClient } from '../src/client';
import { DriversClient } from '../src/drivers-client';
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

describe('Drivers.Resolve (ctl.snapshotter.v1)', () => {
  const tmp = tempInstance('ctl-snap-drivers-');
  let handle: ServerHandle;
  let wire: WireClient;

  before(async () => {
    ensureDir(tmp.state);
    const env = process.env;
    process.env = {
      ...env,
      CTL_SNAPSHOTTER_DRIVERS: 'overlayfs,native',
      CTL_SNAPSHOTTER_DEFAULT: 'native',
      CTL_SNAPSHOTTER_NAMES: 'fast=overlayfs',
    };
    try {
      const parts = await createSnapshotterService({ dirs: tmp, logger: createLogger('test', 'error') });
      handle = await serveUnix(serviceSocket(tmp, 'snapshotter'), parts, createLogger('test', 'error'));
    } finally {
      process.env = env;
    }
    wire = new WireClient(serviceSocket(tmp, 'snapshotter'));
  });

  after(async () => {
    wire?.close();
    await handle?.shutdown(1000);
    tmp.remove();
  });

  it('answers the driver a request name reaches: the default for "" and "ctl", the driver for "ctl-<driver>"', async () => {
    const drivers = new DriversClient(wire);
    const answers = await Promise.all(['', 'ctl', 'native', 'overlayfs', 'ctl-overlayfs', 'ctl-native'].map((n) => drivers.resolve(n)));
    assert.deepEqual(answers, ['native', 'native', 'native', 'overlayfs', 'overlayfs', 'native']);
  });

  it("answers the default for a name it does not know (a containerd proxy_plugins name), a mapped name's driver for a mapped one", async () => {
    const drivers = new DriversClient(wire);
    const answers = await Promise.all(['mysnap', 'fast', 'constructor', '__proto__'].map((n) => drivers.resolve(n)));
    assert.deepEqual(answers, ['native', 'overlayfs', 'native', 'native']);
  });

  it('refuses a name that reaches no loaded driver as InvalidArgument', async () => {
    for (const name of ['btrfs', 'ctl-zfs']) {
      await assert.rejects(new DriversClient(wire).resolve(name), (err: unknown) => {
        assert.equal(errorKind(err), ErrorKind.InvalidArgument);
        assert.match((err as Error).message, new RegExp(`snapshotter "${name}" not loaded`));
        return true;
      });
    }
  });
});
