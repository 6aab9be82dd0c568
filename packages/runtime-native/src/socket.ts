/**
 * A unix socket connection for the command line's gRPC client (@ctl/proto/wire), through the
 * ctl_socket.node addon (src/native/socket_addon.c) instead of node:net. Requiring node:net
 * loads Node's streams with it (~5 ms of `node -e "require('net')"` over `node -e 0` here), and
 * a net.Socket's connect and first write are ~3 ms more: together about a third of what
 * `ctl version` costs over Node's own start. This socket does what the HTTP/2 client needs and
 * no more: it writes what it is given (keeping the rest until the kernel takes it), hands every
 * chunk read to 'data', and reports 'connect', 'error' and 'close' as a net.Socket does. A
 * connection ends as a whole when the peer ends it (no half-open state).
 *
 * The daemon's services keep node:net: a long-running process loads it once.
 */
import type { H2Transport } from '@ctl/proto/wire';
import { EventEmitter } from 'node:events';
import { requireAddon } from './addon';

const enum SocketEvent {
  Data = 0,
  End = 1,
  Writable = 2,
  Error = 3,
}

interface Addon {
  connect(path: string, onEvent: (kind: SocketEvent, value: unknown) => void): object;
  write(handle: object, data: Uint8Array): number;
  shutdown(handle: object): void;
  close(handle: object): void;
  ref(handle: object, on: boolean): void;
}

let addon: Addon | null | undefined;

/** The addon, or null when it was not built. */
function load(): Addon | null {
  if (addon !== undefined) return addon;
  try {
    addon = requireAddon<Addon>('ctl_socket');
  } catch {
    addon = null;
  }
  return addon;
}

function errnoError(code: string, path: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`${code}: socket ${path}`);
  err.code = code;
  err.syscall = 'read';
  return err;
}

/** A write the kernel has not taken whole yet, and who waits for it. */
interface Queued {
  data: Uint8Array;
  done?: (err?: Error | null) => void;
}

/**
 * What both users need: the HTTP/2 session's transport, and the shim attach client's socket
 * (write with a callback once the kernel has the bytes, end for the container's stdin EOF).
 */
export class NativeSocket extends EventEmitter implements H2Transport {
  private handle: object | undefined;
  /** writes the kernel has not taken yet, in order */
  private pending: Queued[] = [];
  private ending = false;
  private closed = false;

  constructor(
    private readonly native: Addon,
    private readonly path: string,
  ) {
    super();
    try {
      this.handle = native.connect(path, (kind, value) => this.onEvent(kind, value));
      // as net's: after the caller has had the chance to listen
      process.nextTick(() => this.closed || this.emit('connect'));
    } catch (err) {
      this.closed = true;
      process.nextTick(() => {
        this.emit('error', err);
        this.emit('close');
      });
    }
  }

  get destroyed(): boolean {
    return this.closed;
  }

  /** false when (some of) it waits in the queue; done: once the kernel has all of it. */
  write(data: Uint8Array, done?: (err?: Error | null) => void): boolean {
    if (this.closed || this.ending) {
      if (done) process.nextTick(done, new Error('write after the socket ended'));
      return false;
    }
    if (this.pending.length) {
      this.pending.push({ data, done });
      return false;
    }
    return this.send({ data, done });
  }

  /** Ends the output once the queue is out; input goes on until the peer ends. */
  end(): void {
    if (this.closed || this.ending) return;
    this.ending = true;
    if (!this.pending.length) this.native.shutdown(this.handle!);
  }

  destroy(err?: Error): void {
    if (this.closed) return;
    this.close();
    process.nextTick(() => {
      if (err) this.emit('error', err);
      this.emit('close');
    });
  }

  unref(): void {
    if (!this.closed) this.native.ref(this.handle!, false);
  }

  private send(write: Queued): boolean {
    let taken: number;
    try {
      taken = this.native.write(this.handle!, write.data);
    } catch (err) {
      if (write.done) process.nextTick(write.done, err as Error);
      this.destroy(err as Error);
      return false;
    }
    if (taken < write.data.length) {
      this.pending.push({ data: write.data.subarray(taken), done: write.done });
      return false;
    }
    if (write.done) process.nextTick(write.done);
    return true;
  }

  private onEvent(kind: SocketEvent, value: unknown): void {
    if (this.closed) return;
    switch (kind) {
      case SocketEvent.Data:
        this.emit('data', value as Buffer);
        break;
      case SocketEvent.Writable: {
        const queued = this.pending;
        this.pending = [];
        for (let i = 0; i < queued.length; i++) {
          if (this.send(queued[i]!)) continue;
          // the rest waits for the next Writable, behind what send() kept
          this.pending.push(...queued.slice(i + 1));
          return;
        }
        if (this.ending) this.native.shutdown(this.handle!);
        break;
      }
      case SocketEvent.End:
        this.close();
        this.emit('close');
        break;
      case SocketEvent.Error:
        this.destroy(errnoError(value as string, this.path));
        break;
    }
  }

  private close(): void {
    this.closed = true;
    const dropped = this.pending;
    this.pending = [];
    this.native.close(this.handle!);
    for (const w of dropped) if (w.done) process.nextTick(w.done, new Error('the socket closed before the write went out'));
  }
}

/**
 * A connection to the unix socket at path through the addon; undefined when the addon is not
 * there (a build without native code), for the caller to use node:net instead.
 */
export function connectSocket(path: string): NativeSocket | undefined {
  const native = load();
  return native ? new NativeSocket(native, path) : undefined;
}
