/**
 * containerd's Snapshots service as a registration over any snapshotter, for a host that serves
 * it on its own socket too (containerd-lite).
 */
export { type PickSnapshotter, snapshotsService } from './grpc';
