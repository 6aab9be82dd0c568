import { ErrorKind, WireClient, createLogger, isKind, serveUnix, serviceSocket, type ServerHandle } from '@ctl/proto';
import { ensureDir } from '@ctl/proto/fsutil';
import { type TempInstance, tempInstance } from '@ctl/proto/testing';
import { wireMethod } from '@ctl/proto/wire';
import type { WriteContentRequest } from '@ctl/proto/generated/containerd/services/content/v1/WriteContentRequest';
import type { WriteContentResponse__Output } from '@ctl/proto/generated/containerd/services/content/v1/WriteContentResponse';
import { strict as assert } from 'node:assert';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ContentClient } from '../src/content/client';
import { NamespacesClient } from '../src/namespaces/client';
import { containerdLiteService, createContainerdLiteService } from '../src/service';
import { describeContentConformance, sha256 } from './content-conformance';

// The same suite through the gRPC service and the client the CLI uses.
describeContentConformance('gRPC client', async () => {
  const tmp = tempInstance('ctl-content-grpc-');
  ensureDir(tmp.state);
  const logger = createLogger('test', 'error');
  let handle: ServerHandle;
  try {
    // The suite writes blobs without leases and deletes others: a collection scheduled by a
    // delete would take the rest, as in containerd, so it is pushed out of the suite's way.
    const service = containerdLiteService({ delayMs: 600_000 });
    handle = await serveUnix(serviceSocket(tmp, 'containerd-lite'), await service({ dirs: tmp, logger }), logger);
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
      assert.deepEqual(
        (await namespaces.list()).map((n) => n.name),
        ['builds'],
      );
      await assert.rejects(
        namespaces.delete('builds'),
        (e: unknown) => isKind(e, ErrorKind.FailedPrecondition) && /1 blob/.test((e as Error).message),
      );
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

describe('content Write stream, message by message', () => {
  let tmp: TempInstance;
  let handle: ServerHandle | undefined;
  let wire: WireClient;
  const write = () =>
    wireMethod<WriteContentRequest, WriteContentResponse__Output>(
      'containerd/services/content/v1/content',
      'containerd.services.content.v1.Content',
      'Write',
    );

  beforeEach(async () => {
    tmp = tempInstance('ctl-content-write-');
    ensureDir(tmp.state);
    const logger = createLogger('test', 'error');
    handle = await serveUnix(serviceSocket(tmp, 'containerd-lite'), await createContainerdLiteService({ dirs: tmp, logger }), logger);
    wire = new WireClient(serviceSocket(tmp, 'containerd-lite'));
  });
  afterEach(async () => {
    wire.close();
    await handle?.shutdown(1000);
    tmp.remove();
  });

  it('writes, verifies and commits in a single COMMIT message, as containerd allows', async () => {
    const data = Buffer.from('one message');
    const call = wire.call(write(), { headers: { 'containerd-namespace': 'single' } });
    await call.send({ action: 'COMMIT', ref: 'one', total: data.length, expected: sha256(data), data, labels: { k: 'v' } });
    const res = await call.recv();
    assert.equal(res?.action, 'COMMIT');
    assert.equal(res?.digest, sha256(data));
    assert.equal(Number(res?.offset), data.length);
    call.end();
    assert.equal(await call.recv(), undefined);
    const info = await new ContentClient(wire, 'single').info(sha256(data));
    assert.deepEqual(info.labels, { k: 'v' });
  });

  it('starts with a WRITE, answers every message with the offset, and needs a ref first', async () => {
    const call = wire.call(write());
    await call.send({ action: 'WRITE', ref: 'w', data: Buffer.from('abc') });
    assert.equal(Number((await call.recv())?.offset), 3);
    await call.send({ action: 'WRITE', offset: 3, data: Buffer.from('def') });
    const res = await call.recv();
    assert.equal(Number(res?.offset), 6);
    assert.equal(res?.digest, sha256('abcdef'));
    await call.send({ action: 'STAT' });
    const stat = await call.recv();
    assert.equal(Number(stat?.offset), 6);
    assert.ok(Number(stat?.startedAt?.seconds) > 0);
    call.end();
    assert.equal(await call.recv(), undefined);

    const noRef = wire.call(write());
    await noRef.send({ action: 'STAT' });
    await assert.rejects(noRef.recv(), (e: unknown) => isKind(e, ErrorKind.InvalidArgument) && /ref/.test((e as Error).message));
  });
});
