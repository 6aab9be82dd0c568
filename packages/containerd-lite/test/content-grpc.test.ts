import { WireClient, createLogger, serveUnix, serviceSocket, type ServerHandle } from '@ctl/proto';
import { ensureDir } from '@ctl/proto/fsutil';
import { tempInstance } from '@ctl/proto/testing';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ContentClient } from '../src/content/client';
import { createContainerdLiteService } from '../src/service';
import { describeContentConformance } from './content-conformance';

// The same suite through the gRPC service and the client the CLI uses.
describeContentConformance('gRPC client', async () => {
  const tmp = tempInstance('ctl-content-grpc-');
  ensureDir(tmp.state);
  const logger = createLogger('test', 'error');
  let handle: ServerHandle;
  try {
    handle = await serveUnix(serviceSocket(tmp, 'containerd-lite'), await createContainerdLiteService({ dirs: tmp, logger }), logger);
  } catch (err) {
    tmp.remove();
    throw err;
  }
  const wire = new WireClient(serviceSocket(tmp, 'containerd-lite'));
  return {
    content: (ns = 'default') => new ContentClient(wire, ns),
    blobFiles: () => readdirSync(join(tmp.root, 'containerd-lite', 'content', 'blobs', 'sha256')).sort(),
    teardown: async () => {
      wire.close();
      await handle.shutdown(1000);
      tmp.remove();
    },
  };
});
