import { ErrorKind, WireClient, createLogger, isKind, serveUnix, serviceSocket, type ServerHandle } from '@ctl/proto';
import { ensureDir } from '@ctl/proto/fsutil';
import { tempInstance } from '@ctl/proto/testing';
import { strict as assert } from 'node:assert';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ContentClient } from '../src/content/client';
import { NamespacesClient } from '../src/namespaces/client';
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

describe('content and namespaces in one containerd-lite service', () => {
  it('makes a namespace on first use and refuses to delete it while it holds blobs', async () => {
    const tmp = tempInstance('ctl-content-ns-');
    ensureDir(tmp.state);
    const logger = createLogger('test', 'error');
    let handle: ServerHandle | undefined;
    const wire = new WireClient(serviceSocket(tmp, 'containerd-lite'));
    try {
      handle = await serveUnix(serviceSocket(tmp, 'containerd-lite'), await createContainerdLiteService({ dirs: tmp, logger }), logger);
      const content = new ContentClient(wire, 'builds');
      const namespaces = new NamespacesClient(wire);
      const w = await content.writer('r');
      await w.write(Buffer.from('x'));
      const digest = await w.commit();
      assert.deepEqual((await namespaces.list()).map((n) => n.name), ['builds']);
      await assert.rejects(namespaces.delete('builds'), (e: unknown) => isKind(e, ErrorKind.FailedPrecondition) && /1 blob/.test((e as Error).message));
      await content.delete(digest);
      await namespaces.delete('builds');
      assert.deepEqual(await namespaces.list(), []);
    } finally {
      wire.close();
      await handle?.shutdown(1000);
      tmp.remove();
    }
  });
});
