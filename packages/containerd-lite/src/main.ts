import { runServiceBinary } from '@ctl/proto';
import { createContainerdLiteService } from './service';

void runServiceBinary({
  command: 'containerd-lite',
  service: 'containerd-lite',
  summary:
    "Serves containerd's services (namespaces, version; containers, tasks, content, images and events as they land) on a unix socket.",
  factory: createContainerdLiteService,
});
