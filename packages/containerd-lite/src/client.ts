/** What a client of containerd-lite needs, without the service code: the API types and clients. */
export type { Namespace, Namespaces } from './namespaces/namespaces';
export { NamespacesClient } from './namespaces/client';
export type {
  Content,
  Info as ContentInfo,
  ReadOptions,
  Status as ContentStatus,
  Writer as ContentWriter,
  WriterOptions,
} from './content/content';
export { ContentClient } from './content/client';
export { type BlobSource, type WriteBlobOptions, bytesSource, writeBlob } from './content/helpers';
export type { DeleteOptions as ImageDeleteOptions, Image, Images } from './images/images';
export { ImagesClient } from './images/client';
export { type DeleteLeaseOptions, type Lease, type Leases, type Resource as LeaseResource, LEASE_HEADER } from './leases/leases';
export { LeasesClient } from './leases/client';
export type { CollectResult, GarbageCollector } from './gc/gc';
export { GcClient } from './gc/client';
export { SystemClient } from './system/client';
export type { Problem } from './system/check';
export { TransferClient, type TransferProgress } from './transfer/client';
export {
  BuildClient,
  type BuildCacheRecord,
  type BuildCallOptions,
  type BuildEvent,
  type BuildOptions,
  type ContextSource,
} from './build/client';
export { DiffClient } from './diff/client';
export { type Any, type Container, type Containers, type NewContainer, SPEC_TYPE_URL, specOf } from './containers/containers';
export { ContainersClient } from './containers/client';
export { RUNC_OPTIONS_TYPE, RUNC_SHIM, binaryName, runtimeRecord } from './containers/runtime';
export { type Envelope, type Publisher, Topic } from './events/events';
export { EventsClient, type EventsSubscribeOptions } from './events/client';
export { type DecodedEvent, decodeEvent, encodeEvent, isKnownEventType } from './events/codec';
export type {
  CreateTaskOptions,
  ExecOptions,
  ExitResult,
  KillOptions,
  Metric as TaskMetric,
  ProcessState,
  TaskLocation,
  Tasks,
  TaskStatus,
} from './tasks/tasks';
export { TasksClient } from './tasks/client';
export { RunnerClient } from './run/client';
export { DEFAULT_NETWORK, NetworkLabel, networksOf, publishedPorts } from './run/network-labels';
export { type NewVolume, type Volume, type Volumes, VOLUME_DRIVER } from './volumes/volumes';
export { VolumesClient } from './volumes/client';
export {
  RestartLabel,
  type RestartPolicy,
  type RestartPolicyName,
  parseRestartPolicy,
  policyOf,
  restartCountOf,
  restartLabels,
} from './restart/policy';
export { isIndex, isManifest } from './oci';
