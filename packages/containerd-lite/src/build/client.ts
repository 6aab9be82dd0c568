/**
 * ctl.build.v1 Builder over the light wire client, for the command line: the options and the
 * context's tar go up one stream, progress events come down the other. The context is read only
 * as fast as HTTP/2 takes it (send resolves under flow control), so a large context is never
 * held in memory.
 */
import { EngineError, ErrorKind } from '@ctl/proto/errors';
import { NamespacedClient, wireMethod } from '@ctl/proto/wire';
import type { BuildEvent__Output } from '@ctl/proto/generated/ctl/build/v1/BuildEvent';
import type { BuildOptions } from '@ctl/proto/generated/ctl/build/v1/BuildOptions';
import type { BuildRequest } from '@ctl/proto/generated/ctl/build/v1/BuildRequest';
import type { CacheRecord__Output } from '@ctl/proto/generated/ctl/build/v1/CacheRecord';
import type { ListCacheResponse__Output } from '@ctl/proto/generated/ctl/build/v1/ListCacheResponse';
import type { PruneRequest } from '@ctl/proto/generated/ctl/build/v1/PruneRequest';
import type { PruneResponse__Output } from '@ctl/proto/generated/ctl/build/v1/PruneResponse';

const FILE = 'ctl/build/v1/build';
const SERVICE = 'ctl.build.v1.Builder';
const method = <Req, Res>(name: string) => wireMethod<Req, Res>(FILE, SERVICE, name);

/**
 * Context bytes per request: many small tar pieces go as one message, well under gRPC's 4 MiB
 * default bound, and small enough that the daemon extracts the first while the next is packed.
 */
export const CONTEXT_CHUNK = 256 * 1024;

export type BuildEvent = BuildEvent__Output;
export type BuildCacheRecord = CacheRecord__Output;
export type { BuildOptions };

/** The build context's tar, made afresh for each call (a call that reached no daemon is made again once one is started). */
export type ContextSource = () => AsyncIterable<Uint8Array>;

/** An error of the context's own source (a file that cannot be read), as opposed to the call's. */
class ContextError extends Error {
  constructor(readonly original: unknown) {
    super('context source failed');
  }
}

/** Joins small pieces into messages of up to `size` bytes and splits larger ones. */
async function* chunked(source: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let length = 0;
  for await (const piece of source) {
    let data = Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    while (length + data.length >= size) {
      const take = size - length;
      parts.push(data.subarray(0, take));
      yield Buffer.concat(parts, size);
      data = data.subarray(take);
      parts = [];
      length = 0;
    }
    if (data.length) {
      parts.push(data);
      length += data.length;
    }
  }
  if (length) yield Buffer.concat(parts, length);
}

export interface BuildCallOptions {
  /** Aborting cancels the call: the daemon stops the running step and removes its container. */
  signal?: AbortSignal;
}

export class BuildClient extends NamespacedClient {
  /**
   * Runs a build: options first, then the context (none when `context` is undefined: the
   * options say no_context), then the events as the daemon sends them, the last a result. A
   * failing build rejects with the daemon's error; a context that cannot be read cancels the
   * call and rejects with that error.
   */
  async *build(options: BuildOptions, context: ContextSource | undefined, { signal }: BuildCallOptions = {}): AsyncGenerator<BuildEvent> {
    if (signal?.aborted) throw new EngineError(ErrorKind.Canceled, 'build cancelled');
    const call = this.wire.call(method<BuildRequest, BuildEvent>('Build'), this.options);
    const cancel = (): void => call.cancel();
    signal?.addEventListener('abort', cancel, { once: true });
    let localError: unknown;
    const upload = (async (): Promise<void> => {
      await call.send({ options });
      if (context) {
        const source = context();
        const iterator = chunked(source, CONTEXT_CHUNK)[Symbol.asyncIterator]();
        try {
          for (;;) {
            let next: IteratorResult<Buffer>;
            try {
              next = await iterator.next();
            } catch (err) {
              throw new ContextError(err);
            }
            if (next.done) break;
            await call.send({ context: { data: next.value } });
          }
        } finally {
          // Stops the walk when the call ended first (a bad Dockerfile, a failed step).
          await iterator.return?.(undefined);
        }
      }
      await call.send({ context: { eof: true } });
      call.end();
    })().catch((err: unknown) => {
      // A send that fails means the call is over and recv says why; a source that fails is ours to report.
      if (err instanceof ContextError) {
        localError = err.original;
        call.cancel();
      }
    });
    let over = false;
    try {
      for (;;) {
        let event: BuildEvent | undefined;
        try {
          event = await call.recv();
        } catch (err) {
          over = true;
          await upload;
          throw localError ?? err;
        }
        if (event === undefined) break;
        yield event;
      }
      over = true;
      await upload;
      if (localError) throw localError;
    } finally {
      signal?.removeEventListener('abort', cancel);
      // A consumer that stops early leaves nothing running on the daemon.
      if (!over) call.cancel();
    }
  }

  /** Removes build cache records: all of them, or those unused for keepDurationSeconds. */
  async prune(request: PruneRequest): Promise<PruneResponse__Output> {
    return this.wire.unary(method<PruneRequest, PruneResponse__Output>('Prune'), request, this.options);
  }

  /** The build cache's records, newest use first. */
  async listCache(): Promise<BuildCacheRecord[]> {
    const res = await this.wire.unary(method<object, ListCacheResponse__Output>('ListCache'), {}, this.options);
    return res.records;
  }
}
