/** What a client of containerd-lite needs, without the service code: the API types and clients. */
export type { Namespace, Namespaces } from './namespaces/namespaces';
export { NamespacesClient } from './namespaces/client';
export type { Content, Info as ContentInfo, ReadOptions, Status as ContentStatus, Writer as ContentWriter, WriterOptions } from './content/content';
export { ContentClient } from './content/client';
export { type BlobSource, type WriteBlobOptions, bytesSource, writeBlob } from './content/helpers';
