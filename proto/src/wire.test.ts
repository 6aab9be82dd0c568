/**
 * The light client's streaming calls (WireClient.call) against a grpc-js server: messages
 * both ways, large messages across many HTTP/2 frames, errors while the client still sends,
 * flow control of responses, and cancellation.
 */
import * as grpc from '@grpc/grpc-js';
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { ErrorKind, isKind } from './errors';
import { GrpcCode } from './status';
import { type TempInstance, assertEchoes, rawGrpcServer, rawMethod, tempInstance, waitFor } from './testing';
import { WireClient, type WireMethod } from './wire';

const method = (name: string, requestStream: boolean, responseStream: boolean): WireMethod<Buffer, Buffer> =>
  rawMethod('test.Wire', name, requestStream, responseStream);

const MiB = 1 << 20;

describe('wire client streaming calls', () => {
  let tmp: TempInstance;
  let server: grpc.Server;
  let client: WireClient;
  /** How many Flood messages the server has handed to grpc-js so far. */
  let flooded = 0;
  let cancelled = false;

  beforeEach(async () => {
    tmp = tempInstance('ctl-wire-');
    flooded = 0;
    cancelled = false;
    server = await rawGrpcServer(join(tmp.base, 'wire.sock'), 'test.Wire', {
      Echo: {
        requestStream: true,
        responseStream: true,
        handler: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
          call.on('cancelled', () => (cancelled = true));
          call.on('data', (m: Buffer) => {
            if (m.toString() === 'fail') call.emit('error', { code: GrpcCode.FAILED_PRECONDITION, details: 'told to fail' });
            else call.write(m);
          });
          call.on('end', () => call.end());
        },
      },
      Flood: {
        requestStream: false,
        responseStream: true,
        handler: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
          void (async () => {
            for (let i = 0; i < 64 && !call.cancelled; i++) {
              const ok = call.write(Buffer.alloc(MiB, i));
              flooded++;
              if (!ok) await new Promise((resolve) => call.once('drain', resolve));
            }
            call.end();
          })();
        },
      },
    });
    client = new WireClient(join(tmp.base, 'wire.sock'));
  });
  afterEach(() => {
    client.close();
    server.forceShutdown();
    tmp.remove();
  });

  it('exchanges messages both ways, large ones whole', async () => {
    await assertEchoes(client.call(method('Echo', true, true)));
  });

  it('ends the call with the server error while the client is still sending', async () => {
    const call = client.call(method('Echo', true, true));
    await call.send(Buffer.from('fail'));
    await assert.rejects(call.recv(), (e: unknown) => isKind(e, ErrorKind.FailedPrecondition) && /told to fail/.test((e as Error).message));
    await assert.rejects(call.send(Buffer.from('late')));
  });

  it('reads responses only as fast as the caller takes them', async () => {
    const call = client.call(method('Flood', false, true));
    await call.send(Buffer.alloc(0));
    call.end();
    assert.equal((await call.recv())?.[0], 0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // A few messages in the client's queue and HTTP/2 windows, not all 64.
    assert.ok(flooded < 32, `server sent ${flooded} of 64 MiB while the client read one`);
    let n = 1;
    for await (const m of call) {
      assert.equal(m[0], n % 256);
      assert.equal(m.length, MiB);
      n++;
    }
    assert.equal(n, 64);
  });

  it('cancels a call from the client side', async () => {
    const call = client.call(method('Echo', true, true));
    await call.send(Buffer.from('x'));
    await call.recv();
    call.cancel();
    await assert.rejects(call.recv(), (e: unknown) => isKind(e, ErrorKind.Canceled));
    await waitFor('the server to see the cancellation', () => (cancelled ? true : undefined), 5000);
  });

  it('refuses a client-streaming method in unary and serverStream', async () => {
    await assert.rejects(client.unary(method('Echo', true, true), Buffer.from('x')), (e: unknown) => isKind(e, ErrorKind.InvalidArgument));
  });
});
