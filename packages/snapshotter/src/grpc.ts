/**
 * The gRPC adapters: containerd.services.snapshots.v1.Snapshots over the loaded drivers, and
 * ctl.snapshotter.v1.Drivers and System. Their definitions come from the static codecs, not
 * proto-loader: containerd's snapshotter suite starts a ctl-snapshotter per case, and loading
 * every contract would be a third of each start's CPU.
 */
import type * as grpc from '@grpc/grpc-js';
import { type ServiceRegistration, serviceDefinition, toServiceError, unaryHandler } from '@ctl/proto';
import type { CommitSnapshotRequest__Output } from '@ctl/proto/generated/containerd/services/snapshots/v1/CommitSnapshotRequest';
import type { ListSnapshotsRequest__Output } from '@ctl/proto/generated/containerd/services/snapshots/v1/ListSnapshotsRequest';
import type { MountsRequest__Output } from '@ctl/proto/generated/containerd/services/snapshots/v1/MountsRequest';
import type { PrepareSnapshotRequest__Output } from '@ctl/proto/generated/containerd/services/snapshots/v1/PrepareSnapshotRequest';
import type { UpdateSnapshotRequest__Output } from '@ctl/proto/generated/containerd/services/snapshots/v1/UpdateSnapshotRequest';
import type { ResolveRequest__Output } from '@ctl/proto/generated/ctl/snapshotter/v1/ResolveRequest';
import { mountToWire } from '@ctl/runtime-native/mount';
import { type WireInfo, infoToWire } from './convert';
import type { Cleaner, Info, Snapshotter } from './snapshotter';
import type { Snapshotters } from './snapshotters';

/** containerd sends List results in batches of this many. */
const LIST_BATCH = 100;

interface KeyRequest {
  snapshotter: string;
  key: string;
}

/** The snapshotter a call reaches: by the request's snapshotter name and, on a namespaced host, the call's metadata. */
export type PickSnapshotter = (snapshotter: string, metadata: grpc.Metadata) => Snapshotter & Cleaner;

export function snapshotsRegistration(snapshotters: Snapshotters): ServiceRegistration {
  return snapshotsService((name) => snapshotters.get(name));
}

/**
 * containerd's Snapshots service over whatever pickSnapshotter gives: the loaded drivers here, or
 * containerd-lite's view of them with keys in the call's namespace (containerd serves Snapshots
 * on its own socket too, and ctr uses it there).
 */
export function snapshotsService(pickSnapshotter: PickSnapshotter): ServiceRegistration {
  const pick = (req: { snapshotter: string }, call: { metadata: grpc.Metadata }) => pickSnapshotter(req.snapshotter, call.metadata);
  return {
    definition: serviceDefinition('containerd/services/snapshots/v1/snapshots', 'containerd.services.snapshots.v1.Snapshots'),
    implementation: {
      Prepare: unaryHandler(async (req: PrepareSnapshotRequest__Output, call) => ({
        mounts: (await pick(req, call).prepare(req.key, req.parent, req.labels)).map(mountToWire),
      })),
      View: unaryHandler(async (req: PrepareSnapshotRequest__Output, call) => ({
        mounts: (await pick(req, call).view(req.key, req.parent, req.labels)).map(mountToWire),
      })),
      Mounts: unaryHandler(async (req: MountsRequest__Output, call) => ({
        mounts: (await pick(req, call).mounts(req.key)).map(mountToWire),
      })),
      Commit: unaryHandler(async (req: CommitSnapshotRequest__Output, call) => {
        await pick(req, call).commit(req.name, req.key, req.labels);
        return {};
      }),
      Remove: unaryHandler(async (req: KeyRequest, call) => {
        await pick(req, call).remove(req.key);
        return {};
      }),
      Stat: unaryHandler(async (req: KeyRequest, call) => ({ info: infoToWire(await pick(req, call).stat(req.key)) })),
      Update: unaryHandler(async (req: UpdateSnapshotRequest__Output, call) => {
        const info = req.info ?? { name: '', labels: {} };
        return { info: infoToWire(await pick(req, call).update({ name: info.name, labels: info.labels }, req.updateMask?.paths ?? [])) };
      }),
      Usage: unaryHandler(async (req: KeyRequest, call) => pick(req, call).usage(req.key)),
      Cleanup: unaryHandler(async (req: { snapshotter: string }, call) => {
        await pick(req, call).cleanup();
        return {};
      }),
      List: (call: grpc.ServerWritableStream<ListSnapshotsRequest__Output, { info: WireInfo[] }>) => {
        void (async () => {
          let batch: Info[] = [];
          await pick(call.request, call).walk((info) => {
            batch.push(info);
            if (batch.length === LIST_BATCH) {
              call.write({ info: batch.map(infoToWire) });
              batch = [];
            }
          }, call.request.filters);
          if (batch.length) call.write({ info: batch.map(infoToWire) });
          call.end();
        })().catch((err: unknown) => call.emit('error', toServiceError(err)));
      },
    },
  };
}

/** ctl.snapshotter.v1.System: what the drivers' roots hold that no snapshot accounts for (ctl system check). */
export function systemRegistration(snapshotters: Snapshotters): ServiceRegistration {
  return {
    definition: serviceDefinition('ctl/snapshotter/v1/snapshotter', 'ctl.snapshotter.v1.System'),
    implementation: {
      Check: unaryHandler(async () => ({ leftovers: await snapshotters.leftovers() })),
    },
  };
}

/** ctl.snapshotter.v1.Drivers: which loaded driver a snapshotter name reaches, for clients that record it (labels, GC). */
export function driversRegistration(snapshotters: Snapshotters): ServiceRegistration {
  return {
    definition: serviceDefinition('ctl/snapshotter/v1/snapshotter', 'ctl.snapshotter.v1.Drivers'),
    implementation: {
      Resolve: unaryHandler(async (req: ResolveRequest__Output) => ({ driver: snapshotters.resolve(req.name) })),
    },
  };
}
