export * from './client';
export { createContainerdLiteService } from './service';
export { SCHEMA } from './layout';
export { NamespaceStore } from './namespaces/store';
export { ContentStore } from './content/store';
export { containerdLiteService, type ContainerdLite, type GcSettings } from './service';
export { ImageStore, validateImageName, validateTarget } from './images/store';
export { LeaseStore } from './leases/store';
export type { CollectResult, GarbageCollector, GcRoot, GcTrigger, RootsProvider } from './gc/gc';
export { Collector, type CollectorOptions, DEFAULT_INGEST_EXPIRY_MS } from './gc/collector';
export { GcLock } from './gc/lock';
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
export * as platforms from '@ctl/proto/platforms';
export { type Any, type Container, type Containers, type NewContainer, SPEC_TYPE_URL } from './containers/containers';
export { DEFAULT_QUEUE_LIMIT, Exchange, type ExchangeOptions, type SubscribeOptions, validateTopic } from './events/exchange';
export { type ContainerDeleteCheck, ContainerStore, type ContainerStoreOptions } from './containers/store';
export { MAX_IDENTIFIER_LENGTH, validateIdentifier } from './identifiers';
export * from './tasks';
export { VolumeStore, type VolumeUsage, validateVolumeName } from './volumes/store';
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
