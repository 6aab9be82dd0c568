/** The gRPC adapter of the transfer service (ctl.transfer.v1.Transfer): progress as a server stream. */
import { type Contracts, type ServiceRegistration, finishStream, namespaceFromMetadata, sendMessage } from '@ctl/proto';
import type { ExportRequest__Output } from '@ctl/proto/generated/ctl/transfer/v1/ExportRequest';
import type { ImportRequest__Output } from '@ctl/proto/generated/ctl/transfer/v1/ImportRequest';
import type { PullRequest__Output } from '@ctl/proto/generated/ctl/transfer/v1/PullRequest';
import type { PushRequest__Output } from '@ctl/proto/generated/ctl/transfer/v1/PushRequest';
import type { Progress } from '@ctl/proto/generated/ctl/transfer/v1/Progress';
import type * as grpc from '@grpc/grpc-js';
import type { Platform } from '../oci';
import type { ProgressEvent, Transfer } from './transfer';

type Call<Req> = grpc.ServerWritableStream<Req, Progress>;

const platformsOf = (list: { os: string; architecture: string; variant: string }[]): Platform[] =>
  list.map((p) => ({ os: p.os, architecture: p.architecture, ...(p.variant ? { variant: p.variant } : {}) }));

/**
 * Runs an operation whose progress events become stream messages. Progress arrives faster than
 * a terminal needs it, so events of the same kind for the same object are sent at most every
 * 100 ms (the last one always goes out before the next event or the end).
 */
function streamed<Req>(call: Call<Req>, run: (progress: (e: ProgressEvent) => void, signal: AbortSignal) => Promise<void>): void {
  const abort = new AbortController();
  call.on('cancelled', () => abort.abort());
  let pending: ProgressEvent | undefined;
  let lastSent = 0;
  let queue = Promise.resolve();
  const flush = (): void => {
    if (!pending) return;
    const event = pending;
    pending = undefined;
    lastSent = Date.now();
    queue = queue.then(() =>
      sendMessage(call, { event: event.event, name: event.name, current: event.current, total: event.total, message: event.message ?? '' }),
    );
  };
  const progress = (event: ProgressEvent): void => {
    if (pending && (pending.event !== event.event || pending.name !== event.name)) flush();
    pending = event;
    if (Date.now() - lastSent >= 100) flush();
  };
  finishStream(
    call,
    (async () => {
      await run(progress, abort.signal);
      flush();
      progress({ event: 'done', name: '', current: 0, total: 0 });
      flush();
      await queue;
    })(),
  );
}

export function transferRegistration(contracts: Contracts, transfer: Transfer): ServiceRegistration {
  return {
    definition: contracts.ctl.transfer.v1.Transfer.service,
    implementation: {
      Import: (call: Call<ImportRequest__Output>) =>
        streamed(call, (progress, signal) =>
          transfer.import(
            namespaceFromMetadata(call.metadata),
            { ...call.request, platforms: platformsOf(call.request.platforms) },
            progress,
            signal,
          ),
        ),
      Export: (call: Call<ExportRequest__Output>) =>
        streamed(call, (progress, signal) =>
          transfer.export(
            namespaceFromMetadata(call.metadata),
            { ...call.request, platforms: platformsOf(call.request.platforms) },
            progress,
            signal,
          ),
        ),
      Pull: (call: Call<PullRequest__Output>) =>
        streamed(call, (progress, signal) =>
          transfer.pull(
            namespaceFromMetadata(call.metadata),
            { ...call.request, platforms: platformsOf(call.request.platforms) },
            progress,
            signal,
          ),
        ),
      Push: (call: Call<PushRequest__Output>) =>
        streamed(call, (progress, signal) =>
          transfer.push(
            namespaceFromMetadata(call.metadata),
            { ...call.request, platform: call.request.platform ? platformsOf([call.request.platform])[0] : undefined },
            progress,
            signal,
          ),
        ),
    },
  };
}
