/**
 * The contracts as grpc-js service definitions, loaded from the descriptor that the build
 * generates from the .proto sources (no .proto parsing at start). For long-running services and
 * their clients; the CLI's hot path uses wire.ts and the static codecs instead.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Options } from '@grpc/proto-loader';
import type { ProtoGrpcType as AttachProto } from './generated/attach';
import type { ProtoGrpcType as BuildProto } from './generated/build';
import type { ProtoGrpcType as ContainersProto } from './generated/containers';
import type { ProtoGrpcType as ContentProto } from './generated/content';
import type { ProtoGrpcType as DiffProto } from './generated/diff';
import type { ProtoGrpcType as EventsProto } from './generated/events';
import type { ProtoGrpcType as EventMessagesProto } from './generated/messages';
import type { ProtoGrpcType as GcProto } from './generated/gc';
import type { ProtoGrpcType as HealthProto } from './generated/health';
import type { ProtoGrpcType as ImagesProto } from './generated/images';
import type { ProtoGrpcType as LeasesProto } from './generated/leases';
import type { ProtoGrpcType as NamespaceProto } from './generated/namespace';
import type { ProtoGrpcType as NetdProto } from './generated/netd';
import type { ProtoGrpcType as RunProto } from './generated/run';
import type { ProtoGrpcType as SnapshotsProto } from './generated/snapshots';
import type { ProtoGrpcType as SnapshotterProto } from './generated/snapshotter';
import type { ProtoGrpcType as SystemProto } from './generated/system';
import type { ProtoGrpcType as TasksProto } from './generated/tasks';
import type { ProtoGrpcType as TransferProto } from './generated/transfer';
import type { ProtoGrpcType as VersionProto } from './generated/version';
import type { ProtoGrpcType as VolumesProto } from './generated/volumes';

export type Contracts = AttachProto &
  BuildProto &
  ContainersProto &
  ContentProto &
  DiffProto &
  EventsProto &
  EventMessagesProto &
  GcProto &
  HealthProto &
  ImagesProto &
  LeasesProto &
  NamespaceProto &
  NetdProto &
  RunProto &
  SnapshotsProto &
  SnapshotterProto &
  SystemProto &
  TasksProto &
  TransferProto &
  VersionProto &
  VolumesProto;

let loaded: Contracts | undefined;

/** The options every loader of the contracts uses, generated types included. */
export function loaderOptions(): Options {
  // The same file drives the type generator (scripts/generate.mjs), so types and runtime agree.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { longs, enums, ...rest } = require('../loader-options.json') as Record<string, unknown>;
  return { ...rest, longs: longs === 'Number' ? Number : String, enums: enums === 'String' ? String : undefined };
}

export function loadContracts(): Contracts {
  if (!loaded) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const grpcJs = require('@grpc/grpc-js') as typeof grpc;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const protoLoader = require('@grpc/proto-loader') as typeof import('@grpc/proto-loader');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const descriptor = require('./descriptor.json') as { root: Parameters<typeof protoLoader.fromJSON>[0] };
    const definition = protoLoader.fromJSON(descriptor.root, loaderOptions());
    loaded = grpcJs.loadPackageDefinition(definition) as unknown as Contracts;
  }
  return loaded;
}
