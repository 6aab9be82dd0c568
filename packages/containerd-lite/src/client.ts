/** What a client of containerd-lite needs, without the service code: the API types and clients. */
export type { Namespace, Namespaces } from './namespaces/namespaces';
export { NamespacesClient } from './namespaces/client';
