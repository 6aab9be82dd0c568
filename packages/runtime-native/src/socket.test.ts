/**
 * The command line's native socket (ctl_socket.node through socket.ts) on real unix sockets:
 * bytes both ways in order when the kernel takes only part of a write, a peer that ends or was
 * never there, paths longer than sun_path, a process that exits with an idle connection open,
 * and the light gRPC client over it against a grpc-js server.
 */
import * as grpc from '@grpc/grpc-js';
import { ErrorKind, isKind } from '@ctl/proto/errors';
import { assertEchoes, rawGrpcServer, rawMethod, tempInstance, type TempInstance, waitFor } from '@ctl/proto/testing';
import { NotServingError, WireClient } from '@ctl/proto/wire';
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { type NativeSocket, connectSocket } from './socket';

const MiB = 1 << 20;

function connect(path: string): NativeSocket {
  const socket = connectSocket(path);
  assert.ok(socket, 'ctl_socket.node is built');
  return socket;
}

/** The transport's next 'error' or 'close', whichever comes first, with the error if any. */
function outcome(socket: NativeSocket): Promise<{ error?: NodeJS.ErrnoException; closed: boolean }> {
  return new Promise((resolve) => {
    let error: NodeJS.ErrnoException | undefined;
    socket.on('error', (err) => (error = err));
    socket.on('close', () => resolve({ error, closed: true }));
  });
}

function listen(path: string, onConnection: (peer: net.Socket) => void): Promise<net.Server> {
  const server = net.createServer(onConnection);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve(server));
  });
}

describe('native socket (ctl_socket.node)', () => {
  let tmp: TempInstance;
  const servers: net.Server[] = [];
  beforeEach(() => (tmp = tempInstance('ctl-socket-')));
  afterEach(async () => {
    for (const s of servers.splice(0)) await new Promise((resolve) => s.close(resolve));
    tmp.remove();
  });

  it('sends 8 MiB to a peer that reads late, whole and in order, and receives its answer', async () => {
    const path = join(tmp.base, 's.sock');
    const received: Buffer[] = [];
    let peer: net.Socket | undefined;
    let peerDone!: () => void;
    const peerEnded = new Promise<void>((resolve) => (peerDone = resolve));
    servers.push(
      await listen(path, (p) => {
        peer = p;
        p.pause();
        p.on('data', (d: Buffer) => received.push(d));
        p.on('end', () => {
          p.end(createHash('sha256').update(Buffer.concat(received)).digest());
          peerDone();
        });
      }),
    );
    const socket = connect(path);
    const answer: Buffer[] = [];
    socket.on('data', (d) => answer.push(d));
    const done = outcome(socket);
    const data = Buffer.alloc(8 * MiB);
    for (let i = 0; i < data.length; i += 4) data.writeUInt32LE(i, i);
    // in pieces of several sizes, so that some wait behind a partial write
    let taken = true;
    let writes = 0;
    const written: Array<Error | null | undefined> = [];
    for (let off = 0, n = 1; off < data.length; off += n, n = Math.min(n * 3 + 1, MiB)) {
      writes++;
      taken = socket.write(data.subarray(off, off + n), (err) => written.push(err)) && taken;
    }
    assert.equal(taken, false, 'the kernel took 8 MiB at once: nothing was left to queue');
    socket.end();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(written.length < writes, 'every write reported done while the peer had read nothing');
    (await waitFor('the peer', () => peer)).resume();
    await peerEnded;
    const result = await done;
    assert.equal(result.error, undefined);
    assert.deepEqual(written, new Array(writes).fill(undefined), 'each write reported done, once, without error');
    assert.ok(Buffer.concat(received).equals(data), 'the peer received the bytes in order');
    assert.deepEqual(Buffer.concat(answer), createHash('sha256').update(data).digest());
  });

  it('reports a missing socket as ENOENT and one nobody listens on as ECONNREFUSED, after the caller listens', async () => {
    const missing = connect(join(tmp.base, 'missing.sock'));
    assert.equal((await outcome(missing)).error?.code, 'ENOENT');
    // a socket file that no one listens on: bound, never listening
    const path = join(tmp.base, 'dead.sock');
    const bound = spawnSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', path]);
    assert.equal(bound.status, 0, String(bound.stderr));
    const refused = connect(path);
    assert.equal((await outcome(refused)).error?.code, 'ECONNREFUSED');
  });

  it('closes when the peer ends the connection, and on destroy', async () => {
    const path = join(tmp.base, 's.sock');
    servers.push(await listen(path, (p) => p.end('bye')));
    const socket = connect(path);
    const chunks: Buffer[] = [];
    socket.on('data', (d) => chunks.push(d));
    const result = await outcome(socket);
    assert.equal(result.error, undefined);
    assert.equal(Buffer.concat(chunks).toString(), 'bye');

    const other = connect(path);
    const closed = outcome(other);
    other.destroy();
    assert.deepEqual(await closed, { error: undefined, closed: true });
    assert.equal(other.write(Buffer.from('late')), false);
  });

  it('reaches a socket whose path is longer than sun_path', async () => {
    const dir = join(tmp.base, 'd'.repeat(60), 'e'.repeat(60));
    mkdirSync(dir, { recursive: true });
    const path = join(dir, 'long.sock');
    assert.ok(Buffer.byteLength(path) > 107);
    // net cannot bind it either: bind through the directory's /proc/self/fd path, as the shim does
    const fd = openSync(dir, 'r');
    try {
      servers.push(await listen(`/proc/self/fd/${fd}/long.sock`, (p) => p.end('far')));
    } finally {
      closeSync(fd);
    }
    const socket = connect(path);
    const chunks: Buffer[] = [];
    socket.on('data', (d) => chunks.push(d));
    assert.equal((await outcome(socket)).error, undefined);
    assert.equal(Buffer.concat(chunks).toString(), 'far');
  });

  it('lets the process exit with an idle connection open once unref()ed', async () => {
    const path = join(tmp.base, 's.sock');
    // the peer reads and never ends the connection itself
    servers.push(await listen(path, (p) => p.resume()));
    const script = join(tmp.base, 'idle.js');
    writeFileSync(
      script,
      `const s = require(${JSON.stringify(require.resolve('./socket'))}).connectSocket(${JSON.stringify(path)});
       s.on('error', (e) => { console.error(e); process.exitCode = 2; });
       s.on('connect', () => { s.write(Buffer.from('hi')); if (process.argv[2] === 'unref') s.unref(); });`,
    );
    // run in a child; with the socket kept referenced it would wait for the peer forever
    const unref = spawnSync(process.execPath, [script, 'unref'], { timeout: 10_000, encoding: 'utf8' });
    assert.equal(unref.status, 0, unref.stderr);
    const kept = spawnSync(process.execPath, [script, 'ref'], { timeout: 1_000, encoding: 'utf8' });
    assert.equal(kept.signal, 'SIGTERM', 'a referenced connection keeps the process alive');
  });
});

describe('wire client over the native socket', () => {
  let tmp: TempInstance;
  let server: grpc.Server;
  let client: WireClient;
  const echo = rawMethod('test.Socket', 'Echo', true, true);

  beforeEach(async () => {
    tmp = tempInstance('ctl-socket-wire-');
    server = await rawGrpcServer(join(tmp.base, 'wire.sock'), 'test.Socket', {
      Echo: {
        requestStream: true,
        responseStream: true,
        handler: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
          call.on('data', (m: Buffer) => call.write(m));
          call.on('end', () => call.end());
        },
      },
    });
    client = new WireClient(join(tmp.base, 'wire.sock'), connectSocket);
  });
  afterEach(() => {
    client.close();
    server.forceShutdown();
    tmp.remove();
  });

  it('exchanges messages both ways, a 5 MiB one whole', async () => {
    await assertEchoes(client.call(echo));
  });

  it('says nothing serves when the socket is missing, and Unavailable when the server goes away', async () => {
    const nobody = new WireClient(join(tmp.base, 'none.sock'), connectSocket);
    await assert.rejects(nobody.call(echo).recv(), (e: unknown) => e instanceof NotServingError);
    nobody.close();

    const call = client.call(echo);
    await call.send(Buffer.from('x'));
    await call.recv();
    server.forceShutdown();
    await assert.rejects(call.recv(), (e: unknown) => isKind(e, ErrorKind.Unavailable));
  });
});
