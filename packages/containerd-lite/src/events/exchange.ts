/**
 * The in-process event exchange: services publish through it (it is their Publisher), the
 * Events gRPC service forwards into it, and subscribers read envelopes matching their filters.
 *
 * Delivery: publish never waits and never fails for lack of subscribers. Each subscriber has
 * a bounded queue (DEFAULT_QUEUE_LIMIT envelopes by default); when a subscriber reads slower
 * than events come and its queue is full, its *oldest* envelope is dropped and a warning is
 * logged (once per overflow, with the count dropped when it catches up), so one stuck client
 * costs a bounded amount of memory and never slows publishers or other subscribers. As in
 * containerd, events are not persisted: a subscriber sees what is published after it subscribed.
 *
 * Filters (containerd's syntax, see @ctl/proto/filters): `topic`, `namespace`, and
 * `event.<field>` on the decoded containerd.events message, with containerd's proto field names
 * (`event.container_id`, `event.labels.<key>`, `event.runtime.name`); OR-ed across filters.
 */
import { EngineError, ErrorKind, invalidArgument } from '@ctl/proto/errors';
import { validateNamespace } from '@ctl/proto/namespace';
import { type Filter, parseFilters } from '@ctl/proto/filters';
import type { Any } from '../containers/containers';
import { validateIdentifier } from '../identifiers';
import { decodeEvent, encodeEvent } from './codec';
import type { Envelope, Publisher } from './events';

export const DEFAULT_QUEUE_LIMIT = 1024;

export interface ExchangeLogger {
  warn(message: string, meta?: Record<string, unknown>): void;
}

export interface ExchangeOptions {
  /** Envelopes a subscriber may have waiting before its oldest are dropped. */
  queueLimit?: number;
  logger?: ExchangeLogger;
}

export interface SubscribeOptions {
  /** Ends the subscription (the iterator finishes). */
  signal?: AbortSignal;
  queueLimit?: number;
}

/** containerd's topic rule: "/" then one or more identifiers separated by "/". */
export function validateTopic(topic: string): string {
  if (!topic) throw invalidArgument('event topic must not be empty');
  if (!topic.startsWith('/')) throw invalidArgument(`event topic "${topic}" must start with '/'`);
  if (topic.length === 1) throw invalidArgument(`event topic "${topic}" must have at least one component`);
  for (const component of topic.slice(1).split('/')) validateIdentifier(component, `event topic "${topic}"`);
  return topic;
}

const snakeToCamel = (s: string): string => s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** The value a filter sees at an event field path (containerd adapts strings, bools and string maps). */
function eventField(fields: Record<string, unknown> | undefined, path: string[]): string | undefined {
  let value: unknown = fields;
  for (let i = 0; i < path.length; i++) {
    if (!value || typeof value !== 'object' || value instanceof Date || Buffer.isBuffer(value)) return undefined;
    const record = value as Record<string, unknown>;
    const part = path[i]!;
    const next = Object.prototype.hasOwnProperty.call(record, part) ? record[part] : record[snakeToCamel(part)];
    // A map (labels): the rest of the path is one key, dots and all.
    if (
      next &&
      typeof next === 'object' &&
      !Array.isArray(next) &&
      !(next instanceof Date) &&
      (part === 'labels' || part === 'annotations')
    ) {
      const key = path.slice(i + 1).join('.');
      const v = (next as Record<string, unknown>)[key];
      return typeof v === 'string' ? v : undefined;
    }
    value = next;
  }
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return String(value);
  return undefined;
}

export function envelopeMatches(filter: Filter, envelope: Envelope): boolean {
  let decoded: Record<string, unknown> | undefined | null = null;
  const fields = (): Record<string, unknown> | undefined => {
    if (decoded === null) {
      try {
        decoded = decodeEvent(envelope.event).fields;
      } catch {
        decoded = undefined;
      }
    }
    return decoded;
  };
  return filter.match((path) => {
    switch (path[0]) {
      case 'namespace':
        return path.length === 1 && envelope.namespace ? envelope.namespace : undefined;
      case 'topic':
        return path.length === 1 && envelope.topic ? envelope.topic : undefined;
      case 'event':
        return path.length > 1 ? eventField(fields(), path.slice(1)) : undefined;
      default:
        return undefined;
    }
  });
}

class Subscription implements AsyncIterableIterator<Envelope> {
  private readonly queue: Envelope[] = [];
  private waiting: ((r: IteratorResult<Envelope>) => void) | undefined;
  private done = false;
  private dropped = 0;
  private readonly endHooks: Array<() => void> = [];

  constructor(
    private readonly filter: Filter,
    private readonly limit: number,
    private readonly logger: ExchangeLogger | undefined,
    private readonly removed: (s: Subscription) => void,
  ) {}

  get pending(): number {
    return this.queue.length;
  }

  offer(envelope: Envelope): void {
    if (this.done || !envelopeMatches(this.filter, envelope)) return;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ value: envelope, done: false });
      return;
    }
    if (this.queue.length >= this.limit) {
      this.queue.shift();
      if (this.dropped++ === 0) this.logger?.warn('event subscriber is too slow; dropping its oldest events', { limit: this.limit });
    }
    this.queue.push(envelope);
  }

  /** Runs hook when the subscription ends. */
  onEnd(hook: () => void): void {
    this.endHooks.push(hook);
  }

  end(): void {
    if (this.done) return;
    this.done = true;
    this.queue.length = 0;
    this.removed(this);
    for (const hook of this.endHooks.splice(0)) hook();
    const resolve = this.waiting;
    this.waiting = undefined;
    resolve?.({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<Envelope>> {
    const envelope = this.queue.shift();
    if (envelope) {
      if (this.queue.length === 0 && this.dropped > 0) {
        this.logger?.warn('event subscriber caught up after dropping events', { dropped: this.dropped });
        this.dropped = 0;
      }
      return Promise.resolve({ value: envelope, done: false });
    }
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    if (this.waiting) return Promise.reject(new EngineError(ErrorKind.FailedPrecondition, 'next() while another next() is pending'));
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  return(): Promise<IteratorResult<Envelope>> {
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Envelope> {
    return this;
  }
}

export class Exchange implements Publisher {
  private readonly subscribers = new Set<Subscription>();
  private readonly queueLimit: number;
  private readonly logger: ExchangeLogger | undefined;

  constructor(options: ExchangeOptions = {}) {
    this.queueLimit = options.queueLimit ?? DEFAULT_QUEUE_LIMIT;
    this.logger = options.logger;
  }

  /** Subscriptions open now (a cancelled one is gone at once). */
  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /**
   * Publishes the containerd.events message `type` with these fields (camelCase as in the
   * generated types, Dates for timestamps) on topic in namespace. Throws InvalidArgument for a
   * bad namespace, a bad topic or an unknown type (mistakes of the caller, never of delivery).
   */
  publish(namespace: string, topic: string, type: string, event: Record<string, unknown>): void {
    this.publishAny(namespace, topic, encodeEvent(type, event));
  }

  /** Publishes an event already encoded (the Events service's Publish). */
  publishAny(namespace: string, topic: string, event: Any): void {
    validateNamespace(namespace);
    validateTopic(topic);
    this.deliver({ timestamp: new Date(), namespace, topic, event });
  }

  /** Delivers a whole envelope as it is (the Events service's Forward), after containerd's checks. */
  forward(envelope: Envelope): void {
    try {
      validateNamespace(envelope.namespace);
    } catch (err) {
      throw invalidArgument(`event envelope has an invalid namespace: ${(err as Error).message}`);
    }
    validateTopic(envelope.topic);
    if (!envelope.timestamp || envelope.timestamp.getTime() <= 0 || Number.isNaN(envelope.timestamp.getTime())) {
      throw invalidArgument('a forwarded event envelope must have a timestamp');
    }
    this.deliver({
      timestamp: envelope.timestamp,
      namespace: envelope.namespace,
      topic: envelope.topic,
      event: envelope.event ?? { typeUrl: '', value: Buffer.alloc(0) },
    });
  }

  /**
   * Envelopes published from now on that match any of the filters (all when none), until the
   * signal aborts, the iterator is returned (break in for-await) or the exchange closes.
   * InvalidArgument for a filter that does not parse.
   */
  subscribe(filters: string[] = [], signalOrOptions?: AbortSignal | SubscribeOptions): AsyncIterableIterator<Envelope> {
    const options: SubscribeOptions = signalOrOptions instanceof AbortSignal ? { signal: signalOrOptions } : (signalOrOptions ?? {});
    const filter = parseFilters(filters);
    const subscription = new Subscription(filter, options.queueLimit ?? this.queueLimit, this.logger, (s) => this.subscribers.delete(s));
    if (options.signal?.aborted) {
      subscription.end();
      return subscription;
    }
    this.subscribers.add(subscription);
    const signal = options.signal;
    if (signal) {
      const onAbort = (): void => subscription.end();
      signal.addEventListener('abort', onAbort, { once: true });
      subscription.onEnd(() => signal.removeEventListener('abort', onAbort));
    }
    return subscription;
  }

  /** Ends every subscription. */
  close(): void {
    for (const s of [...this.subscribers]) s.end();
  }

  private deliver(envelope: Envelope): void {
    for (const s of this.subscribers) s.offer(envelope);
  }
}
