/** What a client of the snapshotter needs, without the service: the API types and the clients. */
export type { Cleaner, Info, Kind, Leftover, Mount, Snapshotter, Usage } from './snapshotter';
export { SIZE_LIMIT_LABEL, infoFilter } from './snapshotter';
export { SnapshotsClient } from './client';
export { DriversClient, SnapshotterSystemClient } from './drivers-client';
