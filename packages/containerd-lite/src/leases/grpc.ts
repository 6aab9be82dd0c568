/** The gRPC adapter of the leases store (containerd.services.leases.v1.Leases). */
import { type Contracts, type ServiceRegistration, invalidArgument, namespaceFromMetadata, unaryHandler } from '@ctl/proto';
import type { AddResourceRequest__Output } from '@ctl/proto/generated/containerd/services/leases/v1/AddResourceRequest';
import type { CreateRequest__Output } from '@ctl/proto/generated/containerd/services/leases/v1/CreateRequest';
import type { DeleteRequest__Output } from '@ctl/proto/generated/containerd/services/leases/v1/DeleteRequest';
import type { DeleteResourceRequest__Output } from '@ctl/proto/generated/containerd/services/leases/v1/DeleteResourceRequest';
import type { ListRequest__Output } from '@ctl/proto/generated/containerd/services/leases/v1/ListRequest';
import type { ListResourcesRequest__Output } from '@ctl/proto/generated/containerd/services/leases/v1/ListResourcesRequest';
import type * as grpc from '@grpc/grpc-js';
import { leaseToWire } from './convert';
import type { Leases } from './leases';
import type { LeaseStore } from './store';

export function leasesRegistration(contracts: Contracts, store: LeaseStore): ServiceRegistration {
  const leasesOf = (call: { metadata: grpc.Metadata }): Leases => store.namespace(namespaceFromMetadata(call.metadata));
  const resourceOf = (r: { id: string; type: string } | null) => {
    if (!r) throw invalidArgument('a lease resource must be given');
    return { id: r.id, type: r.type };
  };
  return {
    definition: contracts.containerd.services.leases.v1.Leases.service,
    implementation: {
      Create: unaryHandler(async (req: CreateRequest__Output, call) => ({
        lease: leaseToWire(await leasesOf(call).create({ id: req.id, labels: req.labels })),
      })),
      Delete: unaryHandler(async (req: DeleteRequest__Output, call) => {
        await leasesOf(call).delete(req.id, { sync: req.sync });
        return {};
      }),
      List: unaryHandler(async (req: ListRequest__Output, call) => ({ leases: (await leasesOf(call).list(req.filters)).map(leaseToWire) })),
      AddResource: unaryHandler(async (req: AddResourceRequest__Output, call) => {
        await leasesOf(call).addResource(req.id, resourceOf(req.resource));
        return {};
      }),
      DeleteResource: unaryHandler(async (req: DeleteResourceRequest__Output, call) => {
        await leasesOf(call).deleteResource(req.id, resourceOf(req.resource));
        return {};
      }),
      ListResources: unaryHandler(async (req: ListResourcesRequest__Output, call) => ({
        resources: await leasesOf(call).listResources(req.id),
      })),
    },
  };
}
