/**
 * The gRPC adapter of the content store (containerd.services.content.v1.Content). The
 * namespace of every call comes from its containerd-namespace header. Streams respect flow
 * control both ways: Read waits for the client to drain, Write reads one message at a time.
 */
import type * as grpc from '@grpc/grpc-js';
import {
  type Contracts,
  type ServiceRegistration,
  EngineError,
  ErrorKind,
  alreadyExists,
  invalidArgument,
  finishStream,
  namespaceFromMetadata,
  sendMessage,
  unaryHandler,
} from '@ctl/proto';
import type { AbortRequest__Output } from '@ctl/proto/generated/containerd/services/content/v1/AbortRequest';
import type { DeleteContentRequest__Output } from '@ctl/proto/generated/containerd/services/content/v1/DeleteContentRequest';
import type { InfoRequest__Output } from '@ctl/proto/generated/containerd/services/content/v1/InfoRequest';
import type { ListContentRequest__Output } from '@ctl/proto/generated/containerd/services/content/v1/ListContentRequest';
import type { ListStatusesRequest__Output } from '@ctl/proto/generated/containerd/services/content/v1/ListStatusesRequest';
import type { ReadContentRequest__Output } from '@ctl/proto/generated/containerd/services/content/v1/ReadContentRequest';
import type { ReadContentResponse } from '@ctl/proto/generated/containerd/services/content/v1/ReadContentResponse';
import type { StatusRequest__Output } from '@ctl/proto/generated/containerd/services/content/v1/StatusRequest';
import type { UpdateRequest__Output } from '@ctl/proto/generated/containerd/services/content/v1/UpdateRequest';
import type { WriteContentRequest__Output } from '@ctl/proto/generated/containerd/services/content/v1/WriteContentRequest';
import type { WriteContentResponse } from '@ctl/proto/generated/containerd/services/content/v1/WriteContentResponse';
import type { Readable } from 'node:stream';
import { leaseFromMetadata } from '../leases/leases';
import type { Content } from './content';
import { now, toTimestamp } from '@ctl/proto/time';
import { type WireInfo, infoToWire, statusToWire } from './convert';
import type { ContentStore } from './store';
import { hasBlob } from './helpers';

/** containerd sends List results in batches of this many. */
const LIST_BATCH = 100;

interface Call {
  metadata: grpc.Metadata;
}

/** Reads a server stream's requests one at a time; undefined at the client's half-close. */
function messageReader<T>(stream: Readable, what: string): () => Promise<T | undefined> {
  let ended = false;
  let closed = false;
  stream.on('end', () => (ended = true));
  stream.on('close', () => (closed = true));
  return async () => {
    for (;;) {
      const message = stream.read() as T | null;
      if (message !== null) return message;
      if (ended) return undefined;
      if (closed) throw new EngineError(ErrorKind.Canceled, `${what}: cancelled by the client`);
      await new Promise<void>((resolve) => {
        const done = (): void => {
          stream.off('readable', done);
          stream.off('end', done);
          stream.off('close', done);
          resolve();
        };
        stream.on('readable', done);
        stream.on('end', done);
        stream.on('close', done);
      });
    }
  };
}

/**
 * One Write stream, as containerd's content service runs it: the first message names the ref
 * and opens (or resumes) its ingest; each message may update the expected total and digest
 * (an expected digest the namespace already has aborts the ingest with AlreadyExists); every
 * message is answered; COMMIT ends the stream; a half-close leaves the ingest to be resumed.
 */
async function writeSession(
  contentOf: (call: Call) => Content,
  call: grpc.ServerDuplexStream<WriteContentRequest__Output, WriteContentResponse>,
): Promise<void> {
  const next = messageReader<WriteContentRequest__Output>(call, 'content write');
  let req = await next();
  if (!req) return;
  if (!req.ref) throw invalidArgument('the first message of a content write must name a ref');
  const content = contentOf(call);
  let total = req.total;
  let expected = req.expected;
  const lease = leaseFromMetadata(call.metadata);
  const writer = await content.writer(req.ref, { total, expected, lease });
  try {
    for (;;) {
      if (req.expected) {
        if (await hasBlob(content, req.expected)) {
          await writer.abort();
          throw alreadyExists(`content ${req.expected} already exists; write of ref "${writer.ref}" aborted`);
        }
        expected = req.expected;
      }
      if (req.total > 0) total = req.total;
      const response: WriteContentResponse = { action: req.action };
      if (req.action === 'STAT') {
        const status = await writer.status();
        Object.assign(response, {
          offset: status.offset,
          total: total || status.total,
          digest: await writer.digest(),
          startedAt: toTimestamp(status.startedAt),
          updatedAt: toTimestamp(status.updatedAt),
        });
      } else if (req.action === 'WRITE' || req.action === 'COMMIT') {
        response.offset = await writer.write(req.data, req.offset);
        if (req.action === 'COMMIT') {
          const status = await writer.status();
          response.digest = await writer.commit(total, expected, req.labels);
          Object.assign(response, { total: response.offset, startedAt: toTimestamp(status.startedAt), updatedAt: toTimestamp(now()) });
        } else {
          response.digest = await writer.digest();
        }
      } else {
        throw invalidArgument(`content write of ref "${writer.ref}": unknown action ${String(req.action)}`);
      }
      await sendMessage(call, response);
      if (req.action === 'COMMIT') return;
      req = await next();
      if (!req) return;
    }
  } finally {
    await writer.close().catch(() => undefined);
  }
}

export function contentRegistration(contracts: Contracts, store: ContentStore): ServiceRegistration {
  const contentOf = (call: Call): Content => store.namespace(namespaceFromMetadata(call.metadata));
  return {
    definition: contracts.containerd.services.content.v1.Content.service,
    implementation: {
      Info: unaryHandler(async (req: InfoRequest__Output, call) => ({ info: infoToWire(await contentOf(call).info(req.digest)) })),
      Update: unaryHandler(async (req: UpdateRequest__Output, call) => {
        if (!req.info) throw invalidArgument('content update needs an info');
        const info = await contentOf(call).update({ digest: req.info.digest, labels: req.info.labels }, req.updateMask?.paths ?? []);
        return { info: infoToWire(info) };
      }),
      Delete: unaryHandler(async (req: DeleteContentRequest__Output, call) => {
        await contentOf(call).delete(req.digest);
        return {};
      }),
      Status: unaryHandler(async (req: StatusRequest__Output, call) => ({ status: statusToWire(await contentOf(call).status(req.ref)) })),
      ListStatuses: unaryHandler(async (req: ListStatusesRequest__Output, call) => ({
        statuses: (await contentOf(call).listStatuses(req.filters)).map(statusToWire),
      })),
      Abort: unaryHandler(async (req: AbortRequest__Output, call) => {
        await contentOf(call).abort(req.ref);
        return {};
      }),
      List: (call: grpc.ServerWritableStream<ListContentRequest__Output, { info: WireInfo[] }>) => {
        finishStream(
          call,
          (async () => {
            const infos = await contentOf(call).list(call.request.filters);
            for (let i = 0; i < infos.length && !call.cancelled; i += LIST_BATCH) {
              await sendMessage(call, { info: infos.slice(i, i + LIST_BATCH).map(infoToWire) });
            }
          })(),
        );
      },
      Read: (call: grpc.ServerWritableStream<ReadContentRequest__Output, ReadContentResponse>) => {
        finishStream(
          call,
          (async () => {
            const { digest, size } = call.request;
            // containerd reads from the start when the offset is negative.
            let offset = Math.max(0, call.request.offset);
            for await (const data of contentOf(call).read(digest, { offset, size: Math.max(0, size) })) {
              if (call.cancelled || call.destroyed) return;
              await sendMessage(call, { offset, data });
              offset += data.length;
            }
          })(),
        );
      },
      Write: (call: grpc.ServerDuplexStream<WriteContentRequest__Output, WriteContentResponse>) => {
        finishStream(call, writeSession(contentOf, call));
      },
    },
  };
}
