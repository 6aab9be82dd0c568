/** The gRPC adapter of the containers store (containerd.services.containers.v1.Containers). */
import {
  type Contracts,
  type ServiceRegistration,
  finishStream,
  invalidArgument,
  namespaceFromMetadata,
  sendMessage,
  unaryHandler,
} from '@ctl/proto';
import type { CreateContainerRequest__Output } from '@ctl/proto/generated/containerd/services/containers/v1/CreateContainerRequest';
import type { DeleteContainerRequest__Output } from '@ctl/proto/generated/containerd/services/containers/v1/DeleteContainerRequest';
import type { GetContainerRequest__Output } from '@ctl/proto/generated/containerd/services/containers/v1/GetContainerRequest';
import type { ListContainersRequest__Output } from '@ctl/proto/generated/containerd/services/containers/v1/ListContainersRequest';
import type { UpdateContainerRequest__Output } from '@ctl/proto/generated/containerd/services/containers/v1/UpdateContainerRequest';
import type * as grpc from '@grpc/grpc-js';
import type { Containers } from './containers';
import { type WireContainerIn, containerToWire, newContainerFromWire } from './convert';
import type { ContainerStore } from './store';

export function containersRegistration(contracts: Contracts, store: ContainerStore): ServiceRegistration {
  const containersOf = (call: { metadata: grpc.Metadata }): Containers => store.namespace(namespaceFromMetadata(call.metadata));
  return {
    definition: contracts.containerd.services.containers.v1.Containers.service,
    implementation: {
      Get: unaryHandler(async (req: GetContainerRequest__Output, call) => ({
        container: containerToWire(await containersOf(call).get(req.id)),
      })),
      List: unaryHandler(async (req: ListContainersRequest__Output, call) => ({
        containers: (await containersOf(call).list(req.filters)).map(containerToWire),
      })),
      // One container per message (the message holds one), sent as fast as the client reads.
      ListStream: (call: grpc.ServerWritableStream<ListContainersRequest__Output, unknown>) => {
        finishStream(
          call,
          (async () => {
            const containers = await containersOf(call).list(call.request.filters);
            for (const c of containers) {
              if (call.cancelled || call.destroyed) return;
              await sendMessage(call, { container: containerToWire(c) });
            }
          })(),
        );
      },
      Create: unaryHandler(async (req: CreateContainerRequest__Output, call) => {
        if (!req.container) throw invalidArgument('container create needs a container');
        return {
          container: containerToWire(await containersOf(call).create(newContainerFromWire(req.container as unknown as WireContainerIn))),
        };
      }),
      Update: unaryHandler(async (req: UpdateContainerRequest__Output, call) => {
        if (!req.container) throw invalidArgument('container update needs a container');
        const updated = await containersOf(call).update(
          newContainerFromWire(req.container as unknown as WireContainerIn),
          req.updateMask?.paths ?? [],
        );
        return { container: containerToWire(updated) };
      }),
      Delete: unaryHandler(async (req: DeleteContainerRequest__Output, call) => {
        await containersOf(call).delete(req.id);
        return {};
      }),
    },
  };
}
