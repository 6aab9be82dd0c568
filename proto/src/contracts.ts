/**
 * The contracts as grpc-js service definitions, two ways:
 * - `serviceDefinition`: one service, from the precompiled static codecs (codecs.ts), for
 *   serving. It costs a few milliseconds where loading every contract through proto-loader
 *   costs some 100 ms of CPU, which a service binary started often pays on every start
 *   (containerd's snapshotter suite starts a fresh ctl-snapshotter for each of its cases).
 * - `loadContracts`: every contract through @grpc/proto-loader from the descriptor that the
 *   build generates (no .proto parsing at start): typed service definitions and grpc-js client
 *   constructors, for the services still registered through it and for tests.
 * The CLI's hot path uses neither: wire.ts and the static codecs.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Options } from '@grpc/proto-loader';
import { staticService } from './codecs';
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

/** grpc-js writes what a serializer returns as it is; it must be a Buffer. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A method's name as proto-loader's alias gives it (lodash's camelCase: CloseIO → closeIo). */
function lowerCamelCase(name: string): string {
  const words = name.match(/[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+/g) ?? [name];
  return words.map((w, i) => (i ? w.charAt(0).toUpperCase() + w.slice(1).toLowerCase() : w.toLowerCase())).join('');
}

/**
 * The grpc-js definition of one service (full name, e.g.
 * `containerd.services.snapshots.v1.Snapshots`) of one .proto file (path without `.proto`),
 * built on the static codecs: on the wire and in the objects handlers get and return, the same
 * as `loadContracts()`'s, whose loader options the codecs follow (codecs.test.ts compares them).
 */
export function serviceDefinition(protoFile: string, service: string): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const method of staticService(protoFile, service)) {
    definition[method.name] = {
      path: method.path,
      requestStream: method.requestStream,
      responseStream: method.responseStream,
      requestSerialize: (value: unknown) => asBuffer(method.request.encode(value)),
      requestDeserialize: (bytes: Buffer) => method.request.decode(bytes),
      responseSerialize: (value: unknown) => asBuffer(method.response.encode(value)),
      responseDeserialize: (bytes: Buffer) => method.response.decode(bytes),
      // grpc-js finds a handler under either name, so the alias is proto-loader's exactly.
      originalName: lowerCamelCase(method.name),
    };
  }
  return definition;
}
