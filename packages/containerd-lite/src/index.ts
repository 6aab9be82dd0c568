export { createContainerdLiteService } from './service';
export { SCHEMA } from './layout';
export type { Namespace, Namespaces } from './namespaces/namespaces';
export { NamespaceStore } from './namespaces/store';
export { NamespacesClient } from './namespaces/client';
