/** The gRPC adapter of the event exchange (containerd.services.events.v1.Events). */
import {
  type Contracts,
  NAMESPACE_HEADER,
  type ServiceRegistration,
  failedPrecondition,
  finishStream,
  invalidArgument,
  sendMessage,
  unaryHandler,
  validateNamespace,
} from '@ctl/proto';
import type { ForwardRequest__Output } from '@ctl/proto/generated/containerd/services/events/v1/ForwardRequest';
import type { PublishRequest__Output } from '@ctl/proto/generated/containerd/services/events/v1/PublishRequest';
import type { SubscribeRequest__Output } from '@ctl/proto/generated/containerd/services/events/v1/SubscribeRequest';
import type * as grpc from '@grpc/grpc-js';
import { anyFromWire, envelopeFromWire, envelopeToWire } from './convert';
import type { Exchange } from './exchange';

/** containerd requires the namespace header on Publish (no default). */
function requiredNamespace(metadata: grpc.Metadata): string {
  const values = metadata.get(NAMESPACE_HEADER);
  if (values.length === 0 || !String(values[0])) throw failedPrecondition('namespace is required');
  return validateNamespace(String(values[0]));
}

export function eventsRegistration(contracts: Contracts, exchange: Exchange): ServiceRegistration {
  return {
    definition: contracts.containerd.services.events.v1.Events.service,
    implementation: {
      Publish: unaryHandler(async (req: PublishRequest__Output, call) => {
        const event = anyFromWire(req.event);
        if (!event) throw invalidArgument(`event on topic "${req.topic}" must be set`);
        exchange.publishAny(requiredNamespace(call.metadata), req.topic, event);
        return {};
      }),
      Forward: unaryHandler(async (req: ForwardRequest__Output) => {
        if (!req.envelope) throw invalidArgument('forward needs an envelope');
        exchange.forward(envelopeFromWire(req.envelope));
        return {};
      }),
      Subscribe: (call: grpc.ServerWritableStream<SubscribeRequest__Output, unknown>) => {
        const abort = new AbortController();
        call.on('cancelled', () => abort.abort());
        call.on('close', () => abort.abort());
        finishStream(
          call,
          (async () => {
            // Parsed before the first message, so a bad filter is the call's status.
            const envelopes = exchange.subscribe(call.request.filters, abort.signal);
            // Headers go out at once, so a client knows it is subscribed before any event.
            call.sendMetadata(new (call.metadata.constructor as typeof grpc.Metadata)());
            for await (const envelope of envelopes) {
              if (call.cancelled || call.destroyed) break;
              await sendMessage(call, envelopeToWire(envelope));
            }
          })(),
        );
      },
    },
  };
}
