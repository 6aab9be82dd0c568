import type * as grpc from '@grpc/grpc-js';
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, lstatSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { loadContracts } from './contracts';
import { ErrorKind, isKind, notFound } from './errors';
import { stopServingLocally } from './local-calls';
import { createLogger } from './logger';
import { type ServerHandle, type ServiceParts, serveUnix, unaryHandler } from './server';
import { Children, type TempInstance, tempInstance, waitFor } from './testing';
import { WireClient, wireMethod } from './wire';

const logger = createLogger('test', 'error');
const version = () =>
  wireMethod<object, { version: string; revision: string }>(
    'containerd/services/version/v1/version',
    'containerd.services.version.v1.Version',
    'Version',
  );
const health = () => wireMethod<{ service: string }, { status: string }>('grpc/health/v1/health', 'grpc.health.v1.Health', 'Check');
const snapshots = (name: string) =>
  wireMethod<object, any>('containerd/services/snapshots/v1/snapshots', 'containerd.services.snapshots.v1.Snapshots', name); // eslint-disable-line @typescript-eslint/no-explicit-any

interface TestParts extends ServiceParts {
  closed: boolean;
}

/** A test service: Stat answers NotFound, Usage is slow, List streams three batches. */
function testParts(): TestParts {
  const contracts = loadContracts();
  const parts: TestParts = {
    name: 'snapshotter',
    closed: false,
    registrations: [
      {
        definition: contracts.containerd.services.snapshots.v1.Snapshots.service,
        implementation: {
          Stat: unaryHandler(async (req: { key: string }) => {
            throw notFound(`snapshot "${req.key}" not found`);
          }),
          Usage: unaryHandler(async () => {
            await new Promise((resolve) => setTimeout(resolve, 300));
            return { size: 4096, inodes: 2 };
          }),
          List: (call: grpc.ServerWritableStream<unknown, unknown>) => {
            for (let i = 0; i < 3; i++) call.write({ info: [{ name: `s${i}`, kind: 'COMMITTED' }] });
            call.end();
          },
        },
      },
    ],
    close: async () => {
      parts.closed = true;
    },
  };
  return parts;
}

describe('serving on a unix socket', () => {
  let tmp: TempInstance;
  let socket: string;
  const handles: ServerHandle[] = [];
  const children = new Children();

  beforeEach(() => {
    tmp = tempInstance();
    mkdirSync(tmp.state, { recursive: true });
    socket = join(tmp.state, 'test.sock');
  });
  afterEach(async () => {
    for (const h of handles.splice(0)) await h.shutdown(100);
    await children.killAll();
    tmp.remove();
  });

  it('answers Version and Health on a socket of mode 0600', async () => {
    handles.push(await serveUnix(socket, testParts(), logger));
    assert.equal(lstatSync(socket).mode & 0o777, 0o600);
    const client = new WireClient(socket);
    try {
      const v = await client.unary(version(), {});
      assert.match(v.version, /^\d+\.\d+\.\d+/);
      assert.equal((await client.unary(health(), { service: '' })).status, 'SERVING');
      assert.equal((await client.unary(health(), { service: 'containerd.services.snapshots.v1.Snapshots' })).status, 'SERVING');
      await assert.rejects(client.unary(health(), { service: 'no.such.Service' }), (e: unknown) => isKind(e, ErrorKind.NotFound));
    } finally {
      client.close();
    }
  });

  it('carries error kinds and streams to the light client', async () => {
    handles.push(await serveUnix(socket, testParts(), logger));
    const client = new WireClient(socket);
    try {
      await assert.rejects(
        client.unary(snapshots('Stat'), { key: 'k1' }),
        (e: unknown) => isKind(e, ErrorKind.NotFound) && /snapshot "k1" not found/.test((e as Error).message),
      );
      const names: string[] = [];
      await client.serverStream(snapshots('List'), {}, (m: { info: Array<{ name: string; kind: string }> }) =>
        names.push(...m.info.map((i) => `${i.name}:${i.kind}`)),
      );
      assert.deepEqual(names, ['s0:COMMITTED', 's1:COMMITTED', 's2:COMMITTED']);
      await assert.rejects(client.unary(snapshots('Prepare'), { key: 'x' }), (e: unknown) => isKind(e, ErrorKind.NotImplemented));
    } finally {
      client.close();
    }
  });

  it('answers a client of this process without the socket, with the same answers and error kinds as through it', async () => {
    handles.push(await serveUnix(socket, testParts(), logger));
    const client = new WireClient(socket);
    const moved = `${socket}.moved`;
    try {
      // No socket at the path: only a call that never connects can be answered.
      renameSync(socket, moved);
      assert.match((await client.unary(version(), {})).version, /^\d+\.\d+\.\d+/);
      const statFails = (e: unknown) => isKind(e, ErrorKind.NotFound) && /snapshot "k1" not found/.test((e as Error).message);
      await assert.rejects(client.unary(snapshots('Stat'), { key: 'k1' }), statFails);
      await assert.rejects(client.unary(snapshots('Prepare'), { key: 'x' }), (e: unknown) => isKind(e, ErrorKind.NotImplemented));
      await assert.rejects(client.unary(snapshots('Usage'), { key: 'k' }, { timeoutMs: 50 }), (e: unknown) =>
        isKind(e, ErrorKind.DeadlineExceeded),
      );
      const abandon = new AbortController();
      const usage = client.unary(snapshots('Usage'), { key: 'k' }, { signal: abandon.signal });
      abandon.abort();
      await assert.rejects(usage, (e: unknown) => isKind(e, ErrorKind.Canceled));
      // Streams still need the socket.
      await assert.rejects(
        client.serverStream(snapshots('List'), {}, () => undefined),
        (e: unknown) => isKind(e, ErrorKind.Unavailable),
      );
      // Without local answers (as for a client in another process): the socket, with the same answers.
      stopServingLocally(socket);
      await assert.rejects(client.unary(version(), {}), (e: unknown) => isKind(e, ErrorKind.Unavailable));
      renameSync(moved, socket);
      const remote = new WireClient(socket);
      try {
        assert.match((await remote.unary(version(), {})).version, /^\d+\.\d+\.\d+/);
        await assert.rejects(remote.unary(snapshots('Stat'), { key: 'k1' }), statFails);
      } finally {
        remote.close();
      }
    } finally {
      client.close();
      if (existsSync(moved)) renameSync(moved, socket);
    }
  });

  it('answers the grpc-js client too', async () => {
    handles.push(await serveUnix(socket, testParts(), logger));
    const contracts = loadContracts();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const grpcJs = require('@grpc/grpc-js') as typeof grpc;
    const client = new contracts.containerd.services.version.v1.Version(`unix:${socket}`, grpcJs.credentials.createInsecure());
    try {
      const res = await new Promise<{ version: string }>((resolve, reject) =>
        client.Version({}, (err, r) => (err ? reject(err) : resolve(r!))),
      );
      assert.match(res.version, /^\d+\.\d+\.\d+/);
    } finally {
      client.close();
    }
  });

  it('finishes in-flight calls, closes the stores and removes the socket on shutdown', async () => {
    const parts = testParts();
    const handle = await serveUnix(socket, parts, logger);
    const client = new WireClient(socket);
    try {
      const inFlight = client.unary(snapshots('Usage'), { key: 'k' });
      await new Promise((resolve) => setTimeout(resolve, 50));
      const stopped = handle.shutdown(5000);
      assert.deepEqual(await inFlight, { size: 4096, inodes: 2 });
      await stopped;
    } finally {
      client.close();
    }
    assert.equal(parts.closed, true);
    assert.equal(existsSync(socket), false);
    // Nothing listens any more, and a new server can take the path.
    await assert.rejects(new WireClient(socket).unary(version(), {}), (e: unknown) => isKind(e, ErrorKind.Unavailable));
    handles.push(await serveUnix(socket, testParts(), logger));
  });

  it('replaces a stale socket file left by a killed process', async () => {
    const holder = children.spawn(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(socket)}, () => console.log('listening'))`,
    ]);
    await waitFor('holder to listen', () => holder.output().includes('listening') || undefined);
    holder.process.kill('SIGKILL');
    await holder.exited;
    assert.equal(lstatSync(socket).isSocket(), true, 'the killed process left its socket file');
    handles.push(await serveUnix(socket, testParts(), logger));
    const client = new WireClient(socket);
    try {
      assert.equal((await client.unary(health(), { service: '' })).status, 'SERVING');
    } finally {
      client.close();
    }
  });

  it('never takes a socket a live process answers on', async () => {
    // The probe of serveUnix connects and hangs up at once; that reset is expected here.
    const live = net.createServer((conn) => conn.on('error', () => undefined).end('still here'));
    await new Promise<void>((resolve) => live.listen(socket, resolve));
    try {
      await assert.rejects(
        serveUnix(socket, testParts(), logger),
        (e: unknown) => isKind(e, ErrorKind.AlreadyExists) && (e as Error).message.includes(socket),
      );
      const reply = await new Promise<string>((resolve) => net.connect(socket).on('data', (d) => resolve(d.toString())));
      assert.equal(reply, 'still here');
    } finally {
      await new Promise((resolve) => live.close(resolve));
    }
  });

  it('refuses a second server on the same socket, and the first keeps serving', async () => {
    handles.push(await serveUnix(socket, testParts(), logger));
    await assert.rejects(
      serveUnix(socket, testParts(), logger),
      (e: unknown) => isKind(e, ErrorKind.AlreadyExists) && (e as Error).message.includes(socket),
    );
    const client = new WireClient(socket);
    try {
      assert.equal((await client.unary(health(), { service: '' })).status, 'SERVING');
    } finally {
      client.close();
    }
  });

  it('holds a lock only root can take: another user squatting the old abstract name cannot keep it from starting', async () => {
    // The lock was the abstract socket "\0ctl-socket-lock:<socket>": any user could bind it first.
    const squatter = children.spawn('setpriv', [
      ...['--reuid', '1000', '--regid', '1000', '--clear-groups', process.execPath, '-e'],
      `require('net').createServer().listen({ path: '\\0ctl-socket-lock:' + ${JSON.stringify(socket)} }, () => console.log('listening'))`,
    ]);
    await waitFor('the squatter to listen', () => squatter.output().includes('listening') || undefined);
    handles.push(await serveUnix(socket, testParts(), logger));
    const lock = statSync(`${socket}.lock`);
    assert.deepEqual([lock.uid, lock.mode & 0o777], [0, 0o600]);
    // Held for other processes too (flock), and refused to a second server.
    assert.equal(spawnSync('flock', ['--nonblock', `${socket}.lock`, 'true']).status, 1);
    await assert.rejects(serveUnix(socket, testParts(), logger), (e: unknown) => isKind(e, ErrorKind.AlreadyExists));
  });

  it('refuses a lock file another user owns', async () => {
    writeFileSync(`${socket}.lock`, '');
    chownSync(`${socket}.lock`, 1000, 1000);
    await assert.rejects(serveUnix(socket, testParts(), logger), /belongs to uid 1000, not to this daemon's user: remove it/);
  });

  it('names the path when the socket directory is missing or not a directory', async () => {
    const missing = join(tmp.base, 'no', 'such', 'dir', 'x.sock');
    await assert.rejects(
      serveUnix(missing, testParts(), logger),
      (e: unknown) => isKind(e, ErrorKind.InvalidArgument) && (e as Error).message.includes(join(tmp.base, 'no', 'such', 'dir')),
    );
    const file = join(tmp.base, 'file');
    writeFileSync(file, '');
    await assert.rejects(serveUnix(join(file, 'x.sock'), testParts(), logger), /is not a directory/);
  });

  it('refuses a path that exists and is not a socket, and leaves it alone', async () => {
    writeFileSync(socket, 'precious');
    await assert.rejects(serveUnix(socket, testParts(), logger), /exists and is not a socket/);
    assert.equal(lstatSync(socket).isFile(), true);
  });
});
