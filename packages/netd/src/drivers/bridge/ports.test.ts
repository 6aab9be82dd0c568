import { ErrorKind, isKind } from '@ctl/proto';
import { strict as assert } from 'node:assert';
import { type Server, createServer } from 'node:net';
import { choosePorts } from './ports';

/** A listener on 127.0.0.1 at a port the kernel gives whose next two are free too (the range under test). */
async function listenBelowFreePorts(): Promise<{ server: Server; port: number }> {
  for (;;) {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1' }, resolve));
    const port = (server.address() as { port: number }).port;
    const free =
      port < 65534 &&
      (await choosePorts(
        [1, 2].map((i) => ({ protocol: 'tcp', hostIp: '127.0.0.1', hostPort: port + i, containerPort: 80 })),
        [],
      ).then(
        () => true,
        () => false,
      ));
    if (free) return { server, port };
    server.close();
  }
}

describe('host ports: a range takes one free port of it (docker -p 8000-8002:80)', () => {
  it('skips a port a process has bound and one we publish, takes the next; refuses when none is left, naming the range', async () => {
    const { server, port } = await listenBelowFreePorts();
    try {
      const published = [{ protocol: 'tcp' as const, hostIp: '', hostPort: port + 1, containerPort: 80, owner: 'container a' }];
      const wanted = { protocol: 'tcp' as const, hostIp: '127.0.0.1', hostPort: port, hostPortEnd: port + 2, containerPort: 80 };
      assert.deepEqual(await choosePorts([wanted], published), [
        { protocol: 'tcp', hostIp: '127.0.0.1', hostPort: port + 2, containerPort: 80 },
      ]);
      await assert.rejects(
        choosePorts([{ ...wanted, hostPortEnd: port + 1 }], published),
        (err: Error) => isKind(err, ErrorKind.FailedPrecondition) && err.message.includes(`127.0.0.1:${port}-${port + 1}/tcp`),
      );
      await assert.rejects(choosePorts([{ ...wanted, hostPortEnd: port - 1 }], []), (err: Error) => isKind(err, ErrorKind.InvalidArgument));
    } finally {
      server.close();
    }
  });
});
