/**
 * The content API over the wire, for the command line and other services; a caller cannot
 * tell it from the local store.
 *
 * Transport: the light wire client (proto/src/wire.ts), extended with bidirectional calls for
 * Write, rather than @grpc/grpc-js. This client sits on the CLI's hot path (`ctl content`,
 * image import and export), where loading grpc-js and the descriptor costs several times a
 * whole Node start; the extension is plain HTTP/2 framing with no extra imports, and it gives
 * Read and Write flow control, so blobs stream through in bounded memory.
 */
import { EngineError, ErrorKind, unavailable } from '@ctl/proto/errors';
import { NamespacedClient, type WireCall, wireMethod } from '@ctl/proto/wire';
import type { ReadContentResponse__Output } from '@ctl/proto/generated/containerd/services/content/v1/ReadContentResponse';
import type { WriteContentRequest } from '@ctl/proto/generated/containerd/services/content/v1/WriteContentRequest';
import type { WriteContentResponse__Output } from '@ctl/proto/generated/containerd/services/content/v1/WriteContentResponse';
import { LEASE_HEADER } from '../leases/leases';
import type { Content, Info, ReadOptions, Status, Writer, WriterOptions } from './content';
import { fromTimestamp } from '@ctl/proto/time';
import { type WireInfo, type WireStatus, infoFromWire, statusFromWire } from './convert';

const FILE = 'containerd/services/content/v1/content';
const SERVICE = 'containerd.services.content.v1.Content';
const method = <Req, Res>(name: string) => wireMethod<Req, Res>(FILE, SERVICE, name);

/** Data per Write message: well under gRPC's 16 MiB message bound. */
export const WRITE_CHUNK = 1 << 20;

export class ContentClient extends NamespacedClient implements Content {
  async info(digest: string): Promise<Info> {
    const res = await this.wire.unary(method<object, { info: WireInfo }>('Info'), { digest }, this.options);
    return infoFromWire(res.info);
  }

  async update(info: Pick<Info, 'digest' | 'labels'>, fieldpaths: string[] = []): Promise<Info> {
    const request = {
      info: { digest: info.digest, labels: info.labels },
      ...(fieldpaths.length ? { updateMask: { paths: fieldpaths } } : {}),
    };
    const res = await this.wire.unary(method<object, { info: WireInfo }>('Update'), request, this.options);
    return infoFromWire(res.info);
  }

  async list(filters: string[] = []): Promise<Info[]> {
    const out: Info[] = [];
    await this.wire.serverStream(
      method<object, { info: WireInfo[] }>('List'),
      { filters },
      (m) => out.push(...m.info.map(infoFromWire)),
      this.options,
    );
    return out;
  }

  async delete(digest: string): Promise<void> {
    await this.wire.unary(method<object, object>('Delete'), { digest }, this.options);
  }

  async *read(digest: string, options: ReadOptions = {}): AsyncGenerator<Buffer, void, undefined> {
    const call = this.wire.call(method<object, ReadContentResponse__Output>('Read'), this.options);
    await call.send({ digest, offset: options.offset ?? 0, size: options.size ?? 0 }).catch(() => undefined);
    call.end();
    for await (const m of call) yield Buffer.isBuffer(m.data) ? m.data : Buffer.from(m.data);
  }

  async status(ref: string): Promise<Status> {
    const res = await this.wire.unary(method<object, { status: WireStatus }>('Status'), { ref }, this.options);
    return statusFromWire(res.status);
  }

  async listStatuses(filters: string[] = []): Promise<Status[]> {
    const res = await this.wire.unary(method<object, { statuses: WireStatus[] }>('ListStatuses'), { filters }, this.options);
    return res.statuses.map(statusFromWire);
  }

  async writer(ref: string, options: WriterOptions = {}): Promise<Writer> {
    // The lease travels as containerd's header, on the Write stream only.
    const callOptions = options.lease
      ? { ...this.options, headers: { ...this.options.headers, [LEASE_HEADER]: options.lease } }
      : this.options;
    const call = this.wire.call(method<WriteContentRequest, WriteContentResponse__Output>('Write'), callOptions);
    const writer = new RemoteWriter(call, ref, options, () => this.abort(ref));
    await writer.status();
    return writer;
  }

  async abort(ref: string): Promise<void> {
    await this.wire.unary(method<object, object>('Abort'), { ref }, this.options);
  }
}

/**
 * One Write stream, used in lock step as containerd's proxy writer does: each request is
 * answered before the next is sent, so the server's answer (or error) is always the latest.
 */
class RemoteWriter implements Writer {
  private offset = 0;
  private total: number;
  private expected: string;
  private first = true;
  private over = false;

  constructor(
    private readonly call: WireCall<WriteContentRequest, WriteContentResponse__Output>,
    readonly ref: string,
    options: WriterOptions,
    private readonly abortRef: () => Promise<void>,
  ) {
    this.total = options.total ?? 0;
    this.expected = options.expected ?? '';
  }

  private async exchange(request: WriteContentRequest): Promise<WriteContentResponse__Output> {
    if (this.over) throw new EngineError(ErrorKind.FailedPrecondition, `writer of ingest ref "${this.ref}" is closed`);
    if (this.first) {
      request = { ...request, ref: this.ref, total: this.total, expected: this.expected };
      this.first = false;
    }
    try {
      // A send that fails means the call is over; recv then says why.
      await this.call.send(request).catch(() => undefined);
      const res = await this.call.recv();
      if (!res) throw unavailable(`content write of ref "${this.ref}": the server ended the stream without an answer`);
      this.offset = Number(res.offset);
      return res;
    } catch (err) {
      this.over = true;
      this.call.cancel();
      throw err;
    }
  }

  async status(): Promise<Status> {
    const res = await this.exchange({ action: 'STAT' });
    if (Number(res.total) > 0) this.total = Number(res.total);
    return {
      ref: this.ref,
      offset: this.offset,
      total: this.total,
      expected: this.expected,
      startedAt: fromTimestamp(res.startedAt),
      updatedAt: fromTimestamp(res.updatedAt),
    };
  }

  async digest(): Promise<string> {
    return (await this.exchange({ action: 'STAT' })).digest;
  }

  async write(data: Uint8Array | readonly Uint8Array[], offset?: number): Promise<number> {
    let at = offset ?? this.offset;
    // Each request carries one buffer: gathered chunks go out joined, as the wire needs them anyway.
    const bytes = data instanceof Uint8Array ? data : Buffer.concat(data);
    if (bytes.length === 0) return Number((await this.exchange({ action: 'WRITE', offset: at })).offset);
    for (let i = 0; i < bytes.length; i += WRITE_CHUNK) {
      const chunk = bytes.subarray(i, i + WRITE_CHUNK);
      const res = await this.exchange({ action: 'WRITE', offset: at, data: chunk });
      at = Number(res.offset);
    }
    return this.offset;
  }

  async commit(size?: number, expected?: string, labels: Record<string, string> = {}): Promise<string> {
    const res = await this.exchange({ action: 'COMMIT', offset: this.offset, total: size ?? 0, expected: expected ?? '', labels });
    await this.finish();
    return res.digest;
  }

  /** Half-closes the stream and waits for the server to end it, which releases the ref. */
  private async finish(): Promise<void> {
    if (this.over) return;
    this.over = true;
    this.call.end();
    while ((await this.call.recv()) !== undefined) {
      // The server answers every request; none are outstanding in lock step.
    }
  }

  async close(): Promise<void> {
    await this.finish();
  }

  async abort(): Promise<void> {
    await this.finish();
    await this.abortRef();
  }
}
