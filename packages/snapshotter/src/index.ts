export { createSnapshotterService } from './service';
export { SCHEMA } from './layout';
