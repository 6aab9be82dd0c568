/** The gRPC adapter of ctl.netd.v1.Networks: wire messages to the manager and back (convert.ts). */
import { type Contracts, type ServiceRegistration, namespaceFromMetadata, unaryHandler } from '@ctl/proto';
import type { AttachRequest__Output } from '@ctl/proto/generated/ctl/netd/v1/AttachRequest';
import type { CreateNetworkRequest__Output } from '@ctl/proto/generated/ctl/netd/v1/CreateNetworkRequest';
import type { DetachRequest__Output } from '@ctl/proto/generated/ctl/netd/v1/DetachRequest';
import type { InspectNetworkRequest__Output } from '@ctl/proto/generated/ctl/netd/v1/InspectNetworkRequest';
import type { ListEndpointsRequest__Output } from '@ctl/proto/generated/ctl/netd/v1/ListEndpointsRequest';
import type { ListNetworksRequest__Output } from '@ctl/proto/generated/ctl/netd/v1/ListNetworksRequest';
import type { RemoveNetworkRequest__Output } from '@ctl/proto/generated/ctl/netd/v1/RemoveNetworkRequest';
import type { Subnet__Output } from '@ctl/proto/generated/ctl/netd/v1/Subnet';
import { endpointToWire, networkToWire, portFromWire } from './convert';
import type { NetworkManager } from './manager';
import type { NewNetwork } from './networks';
import type { Subnet } from './records';

/** A subnet as asked for: absent when the message is, whatever parts were given otherwise. */
const askedSubnet = (s: Subnet__Output | null): Partial<Subnet> | undefined =>
  s ? { subnet: s.subnet, gateway: s.gateway, ipRange: s.ipRange } : undefined;

export function networksRegistration(contracts: Contracts, manager: NetworkManager): ServiceRegistration {
  const networks = (call: { metadata: Parameters<typeof namespaceFromMetadata>[0] }) =>
    manager.namespace(namespaceFromMetadata(call.metadata));
  return {
    definition: contracts.ctl.netd.v1.Networks.service,
    implementation: {
      Create: unaryHandler(async (req: CreateNetworkRequest__Output, call) => {
        const n = req.network;
        const asked: NewNetwork = {
          name: n?.name ?? '',
          driver: n?.driver ?? '',
          ipv4: askedSubnet(n?.ipv4 ?? null),
          ipv6: askedSubnet(n?.ipv6 ?? null),
          internal: Boolean(n?.internal),
          labels: n?.labels ?? {},
          options: n?.options ?? {},
          dns: Boolean(n?.dns),
        };
        return { network: networkToWire(await networks(call).create(asked, { ifNotExists: req.ifNotExists })) };
      }),
      Inspect: unaryHandler(async (req: InspectNetworkRequest__Output, call) => {
        const { network, endpoints } = await networks(call).inspect(req.name);
        return { network: networkToWire(network), endpoints: endpoints.map(endpointToWire) };
      }),
      List: unaryHandler(async (req: ListNetworksRequest__Output, call) => ({
        networks: (await networks(call).list(req.filters)).map(networkToWire),
      })),
      Remove: unaryHandler(async (req: RemoveNetworkRequest__Output, call) => {
        await networks(call).remove(req.name);
        return {};
      }),
      Attach: unaryHandler(async (req: AttachRequest__Output, call) => {
        const endpoint = await networks(call).attach({
          ...req,
          ports: req.ports.map(portFromWire),
          bandwidth: { egressBps: Number(req.bandwidth?.egressBps ?? 0), ingressBps: Number(req.bandwidth?.ingressBps ?? 0) },
        });
        return { endpoint: endpointToWire(endpoint) };
      }),
      Detach: unaryHandler(async (req: DetachRequest__Output, call) => {
        await networks(call).detach(req.containerId, req.network);
        return {};
      }),
      ListEndpoints: unaryHandler(async (req: ListEndpointsRequest__Output, call) => ({
        endpoints: (await networks(call).listEndpoints({ network: req.network, containerId: req.containerId })).map(endpointToWire),
      })),
    },
  };
}
