export { createContainerdLiteService } from './service';
export { SCHEMA } from './layout';
export type { Namespace, Namespaces } from './namespaces/namespaces';
export { NamespaceStore } from './namespaces/store';
export { NamespacesClient } from './namespaces/client';
export type {
  Content,
  Info as ContentInfo,
  ReadOptions,
  Status as ContentStatus,
  Writer as ContentWriter,
  WriterOptions,
} from './content/content';
export { ContentStore } from './content/store';
export { ContentClient } from './content/client';
export { type BlobSource, type WriteBlobOptions, bytesSource, writeBlob } from './content/helpers';
export { containerdLiteService, type ContainerdLite, type GcSettings } from './service';
export type { DeleteOptions as ImageDeleteOptions, Image, Images } from './images/images';
export { ImageStore, validateImageName, validateTarget } from './images/store';
export { ImagesClient } from './images/client';
export { type DeleteLeaseOptions, type Lease, type Leases, type Resource as LeaseResource, LEASE_HEADER } from './leases/leases';
export { LeaseStore } from './leases/store';
export { LeasesClient } from './leases/client';
export type { CollectResult, GarbageCollector, GcRoot, GcTrigger, RootsProvider } from './gc/gc';
export { Collector, type CollectorOptions, DEFAULT_INGEST_EXPIRY_MS } from './gc/collector';
export { GcLock } from './gc/lock';
export { GcClient } from './gc/client';
export { snapshotName } from './gc/mark';
export * from './oci';
export {
  type ExportOptions,
  type ExportResult,
  type ImportOptions,
  type ImportResult,
  type ImportedImage,
  type Progress as ArchiveProgress,
  type ProgressEvent as ArchiveProgressEvent,
  exportArchive,
  importArchive,
} from './archive';
export * as platforms from './platforms';
export { type Any, type Container, type Containers, type NewContainer, SPEC_TYPE_URL } from './containers/containers';
export { type Envelope, type Publisher, Topic } from './events/events';
export { DEFAULT_QUEUE_LIMIT, Exchange, type ExchangeOptions, type SubscribeOptions, validateTopic } from './events/exchange';
export { type DecodedEvent, decodeEvent, encodeEvent, isKnownEventType } from './events/codec';
export { type ContainerDeleteCheck, ContainerStore, type ContainerStoreOptions } from './containers/store';
export { ContainersClient } from './containers/client';
export { RUNC_OPTIONS_TYPE, RUNC_SHIM, binaryName, runtimeRecord } from './containers/runtime';
export { EventsClient, type EventsSubscribeOptions } from './events/client';
export { MAX_IDENTIFIER_LENGTH, validateIdentifier } from './identifiers';
export * from './tasks';
export { TasksClient } from './tasks/client';
export { type NewVolume, type Volume, type Volumes, VOLUME_DRIVER } from './volumes/volumes';
export { VolumeStore, type VolumeUsage, validateVolumeName } from './volumes/store';
export { VolumesClient } from './volumes/client';
export { RestartSupervisor, type SupervisorDeps } from './restart/supervisor';
export {
  RestartLabel,
  type RestartPolicy,
  type RestartPolicyName,
  backoffDelay,
  parseRestartPolicy,
  policyOf,
  restartCountOf,
  restartLabels,
  shouldRestart,
} from './restart/policy';
