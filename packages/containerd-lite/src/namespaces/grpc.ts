/** The gRPC adapter of the namespaces API (containerd.services.namespaces.v1.Namespaces). */
import { type Contracts, type ServiceRegistration, unaryHandler } from '@ctl/proto';
import type { CreateNamespaceRequest__Output } from '@ctl/proto/generated/containerd/services/namespaces/v1/CreateNamespaceRequest';
import type { DeleteNamespaceRequest__Output } from '@ctl/proto/generated/containerd/services/namespaces/v1/DeleteNamespaceRequest';
import type { GetNamespaceRequest__Output } from '@ctl/proto/generated/containerd/services/namespaces/v1/GetNamespaceRequest';
import type { UpdateNamespaceRequest__Output } from '@ctl/proto/generated/containerd/services/namespaces/v1/UpdateNamespaceRequest';
import type { Namespace, Namespaces } from './namespaces';

const toNamespace = (ns: { name: string; labels: Record<string, string> } | null): Namespace => ({
  name: ns?.name ?? '',
  labels: ns?.labels ?? {},
});

export function namespacesRegistration(contracts: Contracts, namespaces: Namespaces): ServiceRegistration {
  return {
    definition: contracts.containerd.services.namespaces.v1.Namespaces.service,
    implementation: {
      Get: unaryHandler(async (req: GetNamespaceRequest__Output) => ({ namespace: await namespaces.get(req.name) })),
      List: unaryHandler(async () => ({ namespaces: await namespaces.list() })),
      Create: unaryHandler(async (req: CreateNamespaceRequest__Output) => ({
        namespace: await namespaces.create(toNamespace(req.namespace)),
      })),
      Update: unaryHandler(async (req: UpdateNamespaceRequest__Output) => ({
        namespace: await namespaces.update(toNamespace(req.namespace), req.updateMask?.paths ?? []),
      })),
      Delete: unaryHandler(async (req: DeleteNamespaceRequest__Output) => {
        await namespaces.delete(req.name);
        return {};
      }),
    },
  };
}
