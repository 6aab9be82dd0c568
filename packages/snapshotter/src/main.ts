import { runServiceBinary } from '@ctl/proto';
import { createSnapshotterService } from './service';

void runServiceBinary({
  command: 'ctl-snapshotter',
  service: 'snapshotter',
  summary: "Serves containerd's snapshots API (containerd.services.snapshots.v1) on a unix socket.",
  factory: createSnapshotterService,
});
