/** The namespaces API over the light wire client, for the command line. */
import { type WireClient, wireMethod } from '@ctl/proto/wire';
import type { CreateNamespaceRequest } from '@ctl/proto/generated/containerd/services/namespaces/v1/CreateNamespaceRequest';
import type { CreateNamespaceResponse__Output } from '@ctl/proto/generated/containerd/services/namespaces/v1/CreateNamespaceResponse';
import type { DeleteNamespaceRequest } from '@ctl/proto/generated/containerd/services/namespaces/v1/DeleteNamespaceRequest';
import type { GetNamespaceRequest } from '@ctl/proto/generated/containerd/services/namespaces/v1/GetNamespaceRequest';
import type { GetNamespaceResponse__Output } from '@ctl/proto/generated/containerd/services/namespaces/v1/GetNamespaceResponse';
import type { ListNamespacesRequest } from '@ctl/proto/generated/containerd/services/namespaces/v1/ListNamespacesRequest';
import type { ListNamespacesResponse__Output } from '@ctl/proto/generated/containerd/services/namespaces/v1/ListNamespacesResponse';
import type { UpdateNamespaceRequest } from '@ctl/proto/generated/containerd/services/namespaces/v1/UpdateNamespaceRequest';
import type { UpdateNamespaceResponse__Output } from '@ctl/proto/generated/containerd/services/namespaces/v1/UpdateNamespaceResponse';
import type { Namespace, Namespaces } from './namespaces';

const FILE = 'containerd/services/namespaces/v1/namespace';
const SERVICE = 'containerd.services.namespaces.v1.Namespaces';
const method = <Req, Res>(name: string) => wireMethod<Req, Res>(FILE, SERVICE, name);

const fromWire = (ns: { name: string; labels: Record<string, string> } | null | undefined): Namespace => ({
  name: ns?.name ?? '',
  labels: ns?.labels ?? {},
});

export class NamespacesClient implements Namespaces {
  constructor(private readonly wire: WireClient) {}

  async get(name: string): Promise<Namespace> {
    const res = await this.wire.unary(method<GetNamespaceRequest, GetNamespaceResponse__Output>('Get'), { name });
    return fromWire(res.namespace);
  }

  async list(): Promise<Namespace[]> {
    const res = await this.wire.unary(method<ListNamespacesRequest, ListNamespacesResponse__Output>('List'), {});
    return res.namespaces.map(fromWire);
  }

  async create(namespace: Namespace): Promise<Namespace> {
    const res = await this.wire.unary(method<CreateNamespaceRequest, CreateNamespaceResponse__Output>('Create'), { namespace });
    return fromWire(res.namespace);
  }

  async update(namespace: Namespace, mask: string[] = []): Promise<Namespace> {
    const request: UpdateNamespaceRequest = { namespace, ...(mask.length ? { updateMask: { paths: mask } } : {}) };
    const res = await this.wire.unary(method<UpdateNamespaceRequest, UpdateNamespaceResponse__Output>('Update'), request);
    return fromWire(res.namespace);
  }

  async delete(name: string): Promise<void> {
    await this.wire.unary(method<DeleteNamespaceRequest, unknown>('Delete'), { name });
  }
}
