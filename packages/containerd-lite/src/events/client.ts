/**
 * The events API over the light wire client, for the command line: subscribe with
 * containerd's filters, publish, forward. Decode an envelope's event with decodeEvent (codec.ts).
 */
import { EngineError, ErrorKind, isKind } from '@ctl/proto/errors';
import { namespaceHeaders } from '@ctl/proto/namespace';
import { type WireClient, wireMethod } from '@ctl/proto/wire';
import type { Any } from '../containers/containers';
import { type WireEnvelope, anyToWire, envelopeFromWire, envelopeToWire } from './convert';
import type { Envelope } from './events';

const FILE = 'containerd/services/events/v1/events';
const SERVICE = 'containerd.services.events.v1.Events';
const method = <Req, Res>(name: string) => wireMethod<Req, Res>(FILE, SERVICE, name);

export interface EventsSubscribeOptions {
  /** Ends the subscription; subscribe then resolves. */
  signal?: AbortSignal;
}

export class EventsClient {
  constructor(private readonly wire: WireClient) {}

  /**
   * Calls onEnvelope for every envelope matching any of the filters (all when none), in order,
   * until the signal aborts (resolves) or the call fails (rejects: a bad filter is
   * InvalidArgument, a daemon going away Unavailable).
   */
  async subscribe(filters: string[], onEnvelope: (envelope: Envelope) => void, options: EventsSubscribeOptions = {}): Promise<void> {
    if (options.signal?.aborted) return;
    const call = this.wire.call(method<{ filters: string[] }, WireEnvelope>('Subscribe'));
    const onAbort = (): void => call.cancel();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await call.send({ filters });
      call.end();
      for (;;) {
        const message = await call.recv();
        if (message === undefined) return;
        onEnvelope(envelopeFromWire(message));
      }
    } catch (err) {
      if (options.signal?.aborted && isKind(err, ErrorKind.Canceled)) return;
      throw err;
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      if (!options.signal?.aborted) call.cancel();
    }
  }

  /** Publishes an encoded event (see encodeEvent) on topic in namespace. */
  async publish(namespace: string, topic: string, event: Any): Promise<void> {
    await this.wire.unary(method<object, object>('Publish'), { topic, event: anyToWire(event) }, { headers: namespaceHeaders(namespace) });
  }

  /** Forwards a whole envelope (its namespace and timestamp kept). */
  async forward(envelope: Envelope): Promise<void> {
    if (!envelope.namespace) throw new EngineError(ErrorKind.InvalidArgument, 'a forwarded envelope needs a namespace');
    await this.wire.unary(
      method<object, object>('Forward'),
      { envelope: envelopeToWire(envelope) },
      { headers: namespaceHeaders(envelope.namespace) },
    );
  }
}
