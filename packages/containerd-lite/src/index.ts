export { createContainerdLiteService } from './service';
export { SCHEMA } from './layout';
export type { Namespace, Namespaces } from './namespaces/namespaces';
export { NamespaceStore } from './namespaces/store';
export { NamespacesClient } from './namespaces/client';
export type { Content, Info as ContentInfo, ReadOptions, Status as ContentStatus, Writer as ContentWriter, WriterOptions } from './content/content';
export { ContentStore } from './content/store';
export { ContentClient } from './content/client';
export { type BlobSource, type WriteBlobOptions, bytesSource, writeBlob } from './content/helpers';
