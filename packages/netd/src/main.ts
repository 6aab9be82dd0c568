import { runServiceBinary } from '@ctl/proto';
import { createNetdService } from './service';

void runServiceBinary({
  command: 'ctl-netd',
  service: 'netd',
  summary: 'Serves container networking (ctl.netd.v1) on a unix socket.',
  factory: createNetdService,
});
