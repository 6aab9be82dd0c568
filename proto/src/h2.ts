/**
 * An HTTP/2 client over one socket, as much of RFC 9113 and RFC 7541 (HPACK) as gRPC over a unix
 * socket needs: streams, flow control both ways, SETTINGS, PING, GOAWAY, RST_STREAM, header blocks
 * across CONTINUATION frames. It stands in for node:http2 in the light client (wire.ts): loading
 * node:http2 loads http, tls and all of crypto with it, ~10 ms of CPU on every short command for
 * nothing a unix socket needs (tools/bench/run-breakdown.mjs).
 *
 * Its streams have the part of ClientHttp2Stream's interface that wire.ts uses: events 'response'
 * (the first header block), 'data', 'trailers', 'end', 'error' and 'close'; write/end with
 * flow control, pause/resume (a paused stream's window is not replenished, so the server waits),
 * close(code) and destroy(err), and setTimeout as a deadline. No TLS, no server side, no push
 * (disabled in our SETTINGS), no priorities.
 */
import { EventEmitter } from 'node:events';

const enum Frame {
  Data = 0,
  Headers = 1,
  RstStream = 3,
  Settings = 4,
  PushPromise = 5,
  Ping = 6,
  GoAway = 7,
  WindowUpdate = 8,
  Continuation = 9,
}
const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;

const SETTINGS_HEADER_TABLE_SIZE = 1;
const SETTINGS_ENABLE_PUSH = 2;
const SETTINGS_MAX_CONCURRENT_STREAMS = 3;
const SETTINGS_INITIAL_WINDOW_SIZE = 4;
const SETTINGS_MAX_FRAME_SIZE = 5;

/** RST_STREAM and GOAWAY codes used here. */
export const NO_ERROR = 0;
export const PROTOCOL_ERROR = 1;
export const REFUSED_STREAM = 7;
export const CANCEL = 8;

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const DEFAULT_WINDOW = 65_535;
/** What a stream may have in flight to us: a paused stream holds at most this much. */
const STREAM_WINDOW = 1 << 20;
/** The connection's receive window: several streams' worth, so one paused stream stalls no other. */
const CONNECTION_WINDOW = 16 << 20;
const MAX_WINDOW = 2 ** 31 - 1;

export type Headers = Record<string, string>;

/**
 * The byte stream a session runs over: a net.Socket, or the command line's own unix socket
 * (@ctl/runtime-native/socket), which spares a short command the loading of Node's streams.
 */
export interface H2Transport {
  write(data: Buffer): unknown;
  end(): unknown;
  destroy(): unknown;
  /** a short command need not wait for the server's end of the connection to exit */
  unref(): unknown;
  on(event: 'connect' | 'close', listener: () => void): unknown;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

/** An HTTP/2 failure: a stream reset by the peer, a protocol violation, a connection gone. */
export class H2Error extends Error {
  constructor(
    message: string,
    readonly code?: string,
    readonly h2Code?: number,
  ) {
    super(message);
    this.name = 'H2Error';
  }
}

// --- HPACK (RFC 7541) ---

const STATIC_TABLE: Array<[string, string]> = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ...'accept-charset,accept-encoding=gzip%2C deflate,accept-language,accept-ranges,accept,access-control-allow-origin,age,allow,authorization,cache-control,content-disposition,content-encoding,content-language,content-length,content-location,content-range,content-type,cookie,date,etag,expect,expires,from,host,if-match,if-modified-since,if-none-match,if-range,if-unmodified-since,last-modified,link,location,max-forwards,proxy-authenticate,proxy-authorization,range,referer,refresh,retry-after,server,set-cookie,strict-transport-security,transfer-encoding,user-agent,vary,via,www-authenticate'
    .split(',')
    .map((entry): [string, string] => {
      const [name, value = ''] = entry.split('=');
      return [name!, decodeURIComponent(value)];
    }),
];

/**
 * The bit length of each symbol's Huffman code (RFC 7541 Appendix B), symbols 0..255 and EOS,
 * one base-32 digit each. The code is canonical (shorter codes first, then by symbol), so the
 * lengths alone give the codes.
 */
const HUFFMAN_LENGTHS =
  'dnsssssssoussussssssssusssssssss6aacd68baa8b8666555666666678f6cad67777777777777777777777878djde6f56565666577666567655677777fbedskmkkmmmnmnnnnnonoomnonnnnlmnmnnomlkmmnnlnmmolmnnllmlnmnnkmmmnmmnqqkjmnmpqqqrrqopjlqrrqrollqqsrrrkoklmllnmmppooqnqrqqrrrrrsrrrrrqu';
const EOS = 256;

interface Canonical {
  /** per length: first code, number of codes, index of its first symbol in `symbols` */
  first: number[];
  count: number[];
  offset: number[];
  symbols: number[];
}

let huffman: Canonical | undefined;
function canonical(): Canonical {
  if (huffman) return huffman;
  const lengths = [...HUFFMAN_LENGTHS].map((c) => Number.parseInt(c, 32));
  const symbols = lengths.map((_, s) => s).sort((a, b) => lengths[a]! - lengths[b]! || a - b);
  const first: number[] = [];
  const count: number[] = [];
  const offset: number[] = [];
  let code = 0;
  let previous = 0;
  symbols.forEach((s, i) => {
    const length = lengths[s]!;
    if (i > 0) code = (code + 1) * 2 ** (length - previous);
    if (count[length] === undefined) {
      first[length] = code;
      count[length] = 0;
      offset[length] = i;
    }
    count[length]!++;
    previous = length;
  });
  huffman = { first, count, offset, symbols };
  return huffman;
}

function huffmanDecode(bytes: Buffer): string {
  const { first, count, offset, symbols } = canonical();
  const out: number[] = [];
  let code = 0;
  let length = 0;
  for (const byte of bytes) {
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((byte >> bit) & 1);
      length++;
      const n = count[length];
      if (n !== undefined && code - first[length]! < n && code >= first[length]!) {
        const symbol = symbols[offset[length]! + code - first[length]!]!;
        if (symbol === EOS) throw new H2Error('HPACK: EOS in a Huffman string', 'ERR_HPACK');
        out.push(symbol);
        code = 0;
        length = 0;
      } else if (length > 30) {
        throw new H2Error('HPACK: invalid Huffman code', 'ERR_HPACK');
      }
    }
  }
  // what is left is padding: the most significant bits of EOS (all ones), shorter than a byte
  if (length > 7 || code !== 2 ** length - 1) throw new H2Error('HPACK: invalid Huffman padding', 'ERR_HPACK');
  return Buffer.from(out).toString('latin1');
}

class HpackDecoder {
  private dynamic: Array<[string, string]> = [];
  private size = 0;

  constructor(private maxSize = 4096) {}

  decode(block: Buffer): Headers {
    const headers: Headers = {};
    let pos = 0;
    const integer = (prefixBits: number): number => {
      const max = (1 << prefixBits) - 1;
      let value = block[pos++]! & max;
      if (value < max) return value;
      for (let shift = 0; ; shift += 7) {
        if (pos >= block.length || shift > 28) throw new H2Error('HPACK: bad integer', 'ERR_HPACK');
        const b = block[pos++]!;
        value += (b & 0x7f) * 2 ** shift;
        if ((b & 0x80) === 0) return value;
      }
    };
    const string = (): string => {
      const huffmanCoded = (block[pos]! & 0x80) !== 0;
      const length = integer(7);
      if (pos + length > block.length) throw new H2Error('HPACK: string past the block', 'ERR_HPACK');
      const raw = block.subarray(pos, pos + length);
      pos += length;
      return huffmanCoded ? huffmanDecode(raw) : raw.toString('latin1');
    };
    const entry = (index: number): [string, string] => {
      const e = index <= STATIC_TABLE.length ? STATIC_TABLE[index - 1] : this.dynamic[index - STATIC_TABLE.length - 1];
      if (!e || index === 0) throw new H2Error(`HPACK: no table entry ${index}`, 'ERR_HPACK');
      return e;
    };
    const add = (name: string, value: string): void => {
      if (headers[name] !== undefined) headers[name] += `, ${value}`;
      else headers[name] = value;
    };
    while (pos < block.length) {
      const b = block[pos]!;
      if (b & 0x80) {
        const [name, value] = entry(integer(7));
        add(name, value);
      } else if (b & 0x40) {
        const index = integer(6);
        const name = index ? entry(index)[0] : string();
        const value = string();
        this.insert(name, value);
        add(name, value);
      } else if (b & 0x20) {
        this.maxSize = integer(5);
        this.evict(0);
      } else {
        // without indexing (0000) or never indexed (0001): the same to a decoder
        const index = integer(4);
        const name = index ? entry(index)[0] : string();
        add(name, string());
      }
    }
    return headers;
  }

  private insert(name: string, value: string): void {
    const entrySize = name.length + value.length + 32;
    this.evict(entrySize);
    if (entrySize <= this.maxSize) {
      this.dynamic.unshift([name, value]);
      this.size += entrySize;
    }
  }

  private evict(room: number): void {
    while (this.dynamic.length && this.size + room > this.maxSize) {
      const [n, v] = this.dynamic.pop()!;
      this.size -= n.length + v.length + 32;
    }
  }
}

/** HPACK integer with an n-bit prefix, the prefix's other bits given in `flags`. */
function encodeInteger(value: number, prefixBits: number, flags: number, out: number[]): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(flags | value);
    return;
  }
  out.push(flags | max);
  for (value -= max; value >= 0x80; value = Math.floor(value / 0x80)) out.push((value % 0x80) | 0x80);
  out.push(value);
}

/** Every field as a literal without indexing, name and value as raw octets: nothing for the peer to remember. */
function encodeHeaders(headers: Headers): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(headers)) {
    const n = Buffer.from(name.toLowerCase(), 'latin1');
    const v = Buffer.from(value, 'latin1');
    const head: number[] = [0];
    encodeInteger(n.length, 7, 0, head);
    parts.push(Buffer.from(head), n);
    const len: number[] = [];
    encodeInteger(v.length, 7, 0, len);
    parts.push(Buffer.from(len), v);
  }
  return Buffer.concat(parts);
}

// --- frames ---

function frame(type: Frame, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.allocUnsafe(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream & 0x7fffffff, 5);
  return payload.length ? Buffer.concat([head, payload]) : head;
}

const u32 = (n: number): Buffer => {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n, 0);
  return b;
};

// --- streams ---

interface Pending {
  data: Buffer;
  end: boolean;
  callback?: (err?: Error | null) => void;
}

export class H2Stream extends EventEmitter {
  id = 0;
  /** bytes we may still send on this stream */
  sendWindow: number;
  private readonly outbox: Pending[] = [];
  private inbox: Buffer[] = [];
  private paused = false;
  private consumed = 0;
  private gotResponse = false;
  private remoteEnded = false;
  private endEmitted = false;
  private localEnded = false;
  private endQueued = false;
  private finished = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly session: H2Session,
    readonly requestHeaders: Headers,
  ) {
    super();
    this.sendWindow = session.peerInitialWindow;
  }

  get writableEnded(): boolean {
    return this.endQueued;
  }

  get destroyed(): boolean {
    return this.finished;
  }

  write(data: Uint8Array, callback?: (err?: Error | null) => void): boolean {
    if (this.endQueued || this.finished) {
      const err = new H2Error('write after end', 'ERR_STREAM_WRITE_AFTER_END');
      if (callback) process.nextTick(callback, err);
      return false;
    }
    this.outbox.push({ data: Buffer.from(data.buffer, data.byteOffset, data.byteLength), end: false, callback });
    this.session.flush();
    return this.outbox.length === 0;
  }

  end(data?: Uint8Array): void {
    if (this.endQueued || this.finished) return;
    this.endQueued = true;
    this.outbox.push({ data: data ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.alloc(0), end: true });
    this.session.flush();
  }

  pause(): this {
    this.paused = true;
    return this;
  }

  resume(): this {
    if (!this.paused) return this;
    this.paused = false;
    process.nextTick(() => this.deliver());
    return this;
  }

  isPaused(): boolean {
    return this.paused;
  }

  /** A deadline: after ms, callback (which is to end the stream). */
  setTimeout(ms: number, callback: () => void): this {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(callback, ms);
    return this;
  }

  /** Ends the stream from this side with RST_STREAM(code). */
  close(code = NO_ERROR): void {
    if (this.finished) return;
    this.session.reset(this, code);
    this.finish();
  }

  destroy(err?: Error): this {
    if (this.finished) return this;
    this.session.reset(this, CANCEL);
    this.finish(err);
    return this;
  }

  // --- called by the session ---

  /** Frames that may go now (window permitting); returns the frames and whether anything is left. */
  takeFrames(maxFrame: number, connectionWindow: number): { frames: Buffer[]; sent: number } {
    const frames: Buffer[] = [];
    let sent = 0;
    while (this.outbox.length) {
      const p = this.outbox[0]!;
      const room = Math.min(this.sendWindow, connectionWindow - sent, maxFrame);
      if (p.data.length > 0 && room <= 0) break;
      const chunk = p.data.subarray(0, Math.max(0, room));
      p.data = p.data.subarray(chunk.length);
      const last = p.data.length === 0;
      frames.push(frame(Frame.Data, last && p.end ? END_STREAM : 0, this.id, chunk));
      this.sendWindow -= chunk.length;
      sent += chunk.length;
      if (!last) continue;
      this.outbox.shift();
      if (p.callback) process.nextTick(p.callback, null);
      if (p.end) this.localEnded = true;
    }
    return { frames, sent };
  }

  get wantsToSend(): boolean {
    return this.outbox.length > 0;
  }

  onHeaders(headers: Headers, endStream: boolean): void {
    if (!this.gotResponse) {
      this.gotResponse = true;
      this.emit('response', headers);
    } else {
      this.emit('trailers', headers);
    }
    if (endStream) this.onRemoteEnd();
  }

  onData(data: Buffer, endStream: boolean): void {
    if (data.length) this.inbox.push(data);
    if (endStream) this.remoteEnded = true;
    this.deliver();
  }

  onRemoteEnd(): void {
    this.remoteEnded = true;
    this.deliver();
  }

  onReset(code: number): void {
    if (this.finished) return;
    this.finish(code === NO_ERROR ? undefined : new H2Error(`stream closed with error code ${code}`, 'ERR_HTTP2_STREAM_ERROR', code));
  }

  /** The connection failed or went away before this stream was done. */
  onConnectionError(err: Error): void {
    if (!this.finished) this.finish(err);
  }

  /** Both sides have ended: the stream is over (after its 'end'). */
  checkClosed(): void {
    if (!this.finished && this.localEnded && this.endEmitted) this.finish();
  }

  private deliver(): void {
    while (!this.paused && this.inbox.length) {
      const chunk = this.inbox.shift()!;
      this.consumed += chunk.length;
      this.emit('data', chunk);
    }
    if (this.consumed >= STREAM_WINDOW / 2 && !this.remoteEnded) {
      this.session.windowUpdate(this.id, this.consumed);
      this.consumed = 0;
    }
    if (!this.paused && this.remoteEnded && this.inbox.length === 0 && !this.endEmitted) {
      this.endEmitted = true;
      this.emit('end');
      this.checkClosed();
    }
  }

  private finish(err?: Error): void {
    this.finished = true;
    if (this.timer) clearTimeout(this.timer);
    this.outbox
      .splice(0)
      .forEach((p) => p.callback && process.nextTick(p.callback, err ?? new H2Error('stream closed', 'ERR_STREAM_DESTROYED')));
    this.session.forget(this);
    // as node:http2's: later, so that whoever ended the stream settles its call first
    process.nextTick(() => {
      if (err) this.emit('error', err);
      this.emit('close');
    });
  }
}

// --- the connection ---

export class H2Session extends EventEmitter {
  peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrame = 16_384;
  /** until the server's SETTINGS say otherwise: the least a server should allow (RFC 9113 §6.5.2) */
  private peerMaxStreams = 100;
  private connectionSendWindow = DEFAULT_WINDOW;
  private connectionConsumed = 0;
  private nextId = 1;
  private readonly streams = new Map<number, H2Stream>();
  private readonly waiting: H2Stream[] = [];
  private readonly decoder = new HpackDecoder();
  private input: Buffer = Buffer.alloc(0);
  /** the header block being received across CONTINUATION frames */
  private block: { stream: number; endStream: boolean; parts: Buffer[] } | undefined;
  private closing = false;
  private gone = false;

  constructor(private readonly socket: H2Transport) {
    super();
    const settings = Buffer.concat([
      u16u32(SETTINGS_ENABLE_PUSH, 0),
      u16u32(SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW),
      u16u32(SETTINGS_HEADER_TABLE_SIZE, 4096),
    ]);
    socket.write(
      Buffer.concat([
        PREFACE,
        frame(Frame.Settings, 0, 0, settings),
        frame(Frame.WindowUpdate, 0, 0, u32(CONNECTION_WINDOW - DEFAULT_WINDOW)),
      ]),
    );
    socket.on('connect', () => this.emit('connect'));
    socket.on('data', (chunk: Buffer) => this.onInput(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new H2Error('the connection closed', 'ERR_HTTP2_SESSION_CLOSED')));
  }

  /** No new streams (closing, or the peer said GOAWAY). */
  get closed(): boolean {
    return this.closing;
  }

  get destroyed(): boolean {
    return this.gone;
  }

  request(headers: Headers): H2Stream {
    if (this.closing || this.gone) throw new H2Error('the session is closed', 'ERR_HTTP2_INVALID_SESSION');
    const stream = new H2Stream(this, headers);
    this.waiting.push(stream);
    this.startWaiting();
    return stream;
  }

  /** Ends the connection once its streams are done; no new ones start. */
  close(): void {
    this.closing = true;
    this.endIfIdle();
  }

  destroy(): void {
    this.socket.destroy();
  }

  // --- used by streams ---

  flush(): void {
    if (this.gone) return;
    const out: Buffer[] = [];
    const sending: H2Stream[] = [];
    for (const s of this.streams.values()) {
      if (!s.wantsToSend) continue;
      const { frames, sent } = s.takeFrames(this.peerMaxFrame, this.connectionSendWindow);
      this.connectionSendWindow -= sent;
      out.push(...frames);
      sending.push(s);
    }
    if (out.length) this.socket.write(out.length === 1 ? out[0]! : Buffer.concat(out));
    // only now: a stream that closes may end the connection, which must have its last frames first
    for (const s of sending) s.checkClosed();
  }

  reset(stream: H2Stream, code: number): void {
    if (stream.id && this.streams.has(stream.id) && !this.gone) this.socket.write(frame(Frame.RstStream, 0, stream.id, u32(code)));
  }

  windowUpdate(stream: number, increment: number): void {
    if (!this.gone) this.socket.write(frame(Frame.WindowUpdate, 0, stream, u32(increment)));
  }

  forget(stream: H2Stream): void {
    const i = this.waiting.indexOf(stream);
    if (i >= 0) this.waiting.splice(i, 1);
    if (stream.id) this.streams.delete(stream.id);
    this.startWaiting();
    this.endIfIdle();
  }

  // --- internals ---

  private startWaiting(): void {
    while (this.waiting.length && this.streams.size < this.peerMaxStreams && !this.gone) {
      const stream = this.waiting.shift()!;
      stream.id = this.nextId;
      this.nextId += 2;
      this.streams.set(stream.id, stream);
      const block = encodeHeaders(stream.requestHeaders);
      const frames: Buffer[] = [];
      for (let off = 0; off < block.length; off += this.peerMaxFrame) {
        const last = off + this.peerMaxFrame >= block.length;
        frames.push(
          frame(
            off === 0 ? Frame.Headers : Frame.Continuation,
            last ? END_HEADERS : 0,
            stream.id,
            block.subarray(off, off + this.peerMaxFrame),
          ),
        );
      }
      this.socket.write(Buffer.concat(frames));
    }
    this.flush();
  }

  private endIfIdle(): void {
    if (this.closing && !this.gone && this.streams.size === 0 && this.waiting.length === 0) {
      this.gone = true;
      this.socket.end();
      // a short command must not wait for the server's end of the connection to exit
      this.socket.unref();
    }
  }

  private onInput(chunk: Buffer): void {
    this.input = this.input.length ? Buffer.concat([this.input, chunk]) : chunk;
    try {
      while (this.input.length >= 9) {
        const length = this.input.readUIntBE(0, 3);
        if (this.input.length < 9 + length) break;
        const type = this.input[3]!;
        const flags = this.input[4]!;
        const id = this.input.readUInt32BE(5) & 0x7fffffff;
        const payload = this.input.subarray(9, 9 + length);
        this.input = this.input.subarray(9 + length);
        this.onFrame(type, flags, id, payload);
      }
    } catch (err) {
      this.socket.write(frame(Frame.GoAway, 0, 0, Buffer.concat([u32(0), u32(PROTOCOL_ERROR)])));
      this.fail(err as Error);
      this.socket.destroy();
    }
  }

  private onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    if (this.block && type !== Frame.Continuation) throw new H2Error('HTTP/2: a header block was cut off', 'ERR_HTTP2_PROTOCOL');
    switch (type) {
      case Frame.Data: {
        const data = unpad(flags, payload);
        // the connection's window is ours to replenish whatever becomes of the data
        this.connectionConsumed += payload.length;
        if (this.connectionConsumed >= CONNECTION_WINDOW / 4) {
          this.windowUpdate(0, this.connectionConsumed);
          this.connectionConsumed = 0;
        }
        this.streams.get(id)?.onData(data, (flags & END_STREAM) !== 0);
        break;
      }
      case Frame.Headers: {
        let fragment = unpad(flags, payload);
        if (flags & PRIORITY) fragment = fragment.subarray(5);
        this.block = { stream: id, endStream: (flags & END_STREAM) !== 0, parts: [fragment] };
        if (flags & END_HEADERS) this.endBlock();
        break;
      }
      case Frame.Continuation:
        if (!this.block || this.block.stream !== id) throw new H2Error('HTTP/2: CONTINUATION without HEADERS', 'ERR_HTTP2_PROTOCOL');
        this.block.parts.push(payload);
        if (flags & END_HEADERS) this.endBlock();
        break;
      case Frame.RstStream:
        this.streams.get(id)?.onReset(payload.readUInt32BE(0));
        break;
      case Frame.Settings:
        if (flags & ACK) break;
        for (let off = 0; off + 6 <= payload.length; off += 6) this.setting(payload.readUInt16BE(off), payload.readUInt32BE(off + 2));
        this.socket.write(frame(Frame.Settings, ACK, 0));
        this.startWaiting();
        break;
      case Frame.Ping:
        if (!(flags & ACK)) this.socket.write(frame(Frame.Ping, ACK, 0, payload));
        break;
      case Frame.GoAway: {
        const last = payload.readUInt32BE(0) & 0x7fffffff;
        this.closing = true;
        // streams the server never took may be tried again on a new connection
        for (const s of [...this.streams.values()].filter((st) => st.id > last))
          s.onConnectionError(new H2Error('the server went away before taking the request', 'ERR_HTTP2_GOAWAY_SESSION', REFUSED_STREAM));
        for (const s of this.waiting.splice(0)) s.onConnectionError(new H2Error('the server went away', 'ERR_HTTP2_GOAWAY_SESSION'));
        this.endIfIdle();
        break;
      }
      case Frame.WindowUpdate: {
        const increment = payload.readUInt32BE(0) & 0x7fffffff;
        if (id === 0) this.connectionSendWindow += increment;
        else {
          const s = this.streams.get(id);
          if (s) s.sendWindow += increment;
        }
        this.flush();
        break;
      }
      case Frame.PushPromise:
        throw new H2Error('HTTP/2: PUSH_PROMISE though push is disabled', 'ERR_HTTP2_PROTOCOL');
      default:
      // PRIORITY and unknown frame types are ignored (RFC 9113 §4.1, §5.5)
    }
  }

  private endBlock(): void {
    const { stream, endStream, parts } = this.block!;
    this.block = undefined;
    // decoded even for a stream no longer here: the decoder's table must follow every block
    const headers = this.decoder.decode(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
    this.streams.get(stream)?.onHeaders(headers, endStream);
  }

  private setting(id: number, value: number): void {
    if (id === SETTINGS_INITIAL_WINDOW_SIZE) {
      if (value > MAX_WINDOW) throw new H2Error('HTTP/2: window too large', 'ERR_HTTP2_PROTOCOL');
      const delta = value - this.peerInitialWindow;
      this.peerInitialWindow = value;
      for (const s of this.streams.values()) s.sendWindow += delta;
      for (const s of this.waiting) s.sendWindow += delta;
    } else if (id === SETTINGS_MAX_FRAME_SIZE) {
      this.peerMaxFrame = value;
    } else if (id === SETTINGS_MAX_CONCURRENT_STREAMS) {
      this.peerMaxStreams = value;
    }
  }

  private fail(err: Error): void {
    const wasGone = this.gone;
    this.gone = true;
    this.closing = true;
    for (const s of [...this.streams.values(), ...this.waiting.splice(0)]) s.onConnectionError(err);
    if (!wasGone && !(err instanceof H2Error && err.code === 'ERR_HTTP2_SESSION_CLOSED')) this.emit('error', err);
  }
}

function u16u32(id: number, value: number): Buffer {
  const b = Buffer.allocUnsafe(6);
  b.writeUInt16BE(id, 0);
  b.writeUInt32BE(value, 2);
  return b;
}

function unpad(flags: number, payload: Buffer): Buffer {
  if (!(flags & PADDED)) return payload;
  const pad = payload[0]!;
  if (pad >= payload.length) throw new H2Error('HTTP/2: padding longer than the frame', 'ERR_HTTP2_PROTOCOL');
  return payload.subarray(1, payload.length - pad);
}

/** An HTTP/2 connection over a socket that is connecting (net.connect, or an H2Transport of another kind). */
export function h2Connect(socket: H2Transport): H2Session {
  return new H2Session(socket);
}
