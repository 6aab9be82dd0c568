/** ctl.netd.v1 over the light wire client: the Networks interface, remote. */
import type { AttachRequest as WireAttachRequest } from '@ctl/proto/generated/ctl/netd/v1/AttachRequest';
import type { AttachResponse__Output } from '@ctl/proto/generated/ctl/netd/v1/AttachResponse';
import type { CreateNetworkRequest } from '@ctl/proto/generated/ctl/netd/v1/CreateNetworkRequest';
import type { CreateNetworkResponse__Output } from '@ctl/proto/generated/ctl/netd/v1/CreateNetworkResponse';
import type { DetachRequest } from '@ctl/proto/generated/ctl/netd/v1/DetachRequest';
import type { InspectNetworkRequest } from '@ctl/proto/generated/ctl/netd/v1/InspectNetworkRequest';
import type { InspectNetworkResponse__Output } from '@ctl/proto/generated/ctl/netd/v1/InspectNetworkResponse';
import type { ListEndpointsRequest } from '@ctl/proto/generated/ctl/netd/v1/ListEndpointsRequest';
import type { ListEndpointsResponse__Output } from '@ctl/proto/generated/ctl/netd/v1/ListEndpointsResponse';
import type { ListNetworksRequest } from '@ctl/proto/generated/ctl/netd/v1/ListNetworksRequest';
import type { ListNetworksResponse__Output } from '@ctl/proto/generated/ctl/netd/v1/ListNetworksResponse';
import type { RemoveNetworkRequest } from '@ctl/proto/generated/ctl/netd/v1/RemoveNetworkRequest';
import { NamespacedClient, wireMethod } from '@ctl/proto/wire';
import { endpointFromWire, networkFromWire } from './convert';
import type { AttachRequest, Networks, NewNetwork } from './networks';
import type { Endpoint, Network } from './records';

const FILE = 'ctl/netd/v1/netd';
const SERVICE = 'ctl.netd.v1.Networks';

export class NetworksClient extends NamespacedClient implements Networks {
  async create(network: NewNetwork, options: { ifNotExists?: boolean } = {}): Promise<Network> {
    const res = await this.wire.unary(
      wireMethod<CreateNetworkRequest, CreateNetworkResponse__Output>(FILE, SERVICE, 'Create'),
      {
        network: {
          name: network.name,
          driver: network.driver ?? '',
          ipv4: network.ipv4 ?? null,
          ipv6: network.ipv6 ?? null,
          internal: Boolean(network.internal),
          labels: network.labels ?? {},
          options: network.options ?? {},
          dns: network.dns ?? network.name !== 'bridge',
        },
        ifNotExists: Boolean(options.ifNotExists),
      },
      this.options,
    );
    return networkFromWire(res.network);
  }

  async inspect(name: string): Promise<{ network: Network; endpoints: Endpoint[] }> {
    const res = await this.wire.unary(
      wireMethod<InspectNetworkRequest, InspectNetworkResponse__Output>(FILE, SERVICE, 'Inspect'),
      { name },
      this.options,
    );
    return { network: networkFromWire(res.network), endpoints: res.endpoints.map(endpointFromWire) };
  }

  async list(filters: string[] = []): Promise<Network[]> {
    const res = await this.wire.unary(
      wireMethod<ListNetworksRequest, ListNetworksResponse__Output>(FILE, SERVICE, 'List'),
      { filters },
      this.options,
    );
    return res.networks.map(networkFromWire);
  }

  async remove(name: string): Promise<void> {
    await this.wire.unary(wireMethod<RemoveNetworkRequest, object>(FILE, SERVICE, 'Remove'), { name }, this.options);
  }

  async attach(request: AttachRequest): Promise<Endpoint> {
    const res = await this.wire.unary(
      wireMethod<WireAttachRequest, AttachResponse__Output>(FILE, SERVICE, 'Attach'),
      { ...request, bandwidth: { egressBps: request.bandwidth?.egressBps ?? 0, ingressBps: request.bandwidth?.ingressBps ?? 0 } },
      this.options,
    );
    return endpointFromWire(res.endpoint);
  }

  async detach(containerId: string, network = ''): Promise<void> {
    await this.wire.unary(wireMethod<DetachRequest, object>(FILE, SERVICE, 'Detach'), { containerId, network }, this.options);
  }

  async listEndpoints(filter: { network?: string; containerId?: string } = {}): Promise<Endpoint[]> {
    const res = await this.wire.unary(
      wireMethod<ListEndpointsRequest, ListEndpointsResponse__Output>(FILE, SERVICE, 'ListEndpoints'),
      { network: filter.network ?? '', containerId: filter.containerId ?? '' },
      this.options,
    );
    return res.endpoints.map(endpointFromWire);
  }
}
