/**
 * A client of the shim's attach socket: output arrives in Docker's multiplexed framing (8-byte
 * header: stream 1 = stdout, 2 = stderr, 3 zero bytes, uint32 big-endian length), input goes to
 * the container's stdin (the shim must have been started with stdin).
 */
import { EventEmitter } from 'node:events';
import { connectUnix } from './unix-path';

/** The part of a net.Socket an attachment uses; the command line's NativeSocket has it too. */
export interface AttachSocket {
  readonly destroyed: boolean;
  write(data: Buffer, done?: (err?: Error | null) => void): unknown;
  end(): unknown;
  destroy(): unknown;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'close', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  once(event: 'connect', listener: () => void): unknown;
  once(event: 'error', listener: (err: Error) => void): unknown;
}

/** Events: 'stdout' and 'stderr' (chunk: Buffer), 'close'. */
export class Attachment extends EventEmitter {
  private buf = Buffer.alloc(0);

  private constructor(private readonly sock: AttachSocket) {
    super();
    sock.on('data', (d: Buffer) => this.feed(d));
    sock.on('close', () => this.emit('close'));
    sock.on('error', () => undefined);
  }

  /** connect: another way to reach the socket (the command line's native one); node:net by default. */
  static connect(socketPath: string, connect?: (path: string) => AttachSocket | undefined): Promise<Attachment> {
    return new Promise((resolve, reject) => {
      const sock = connect?.(socketPath) ?? connectUnix(socketPath);
      sock.once('connect', () => resolve(new Attachment(sock)));
      sock.once('error', reject);
    });
  }

  private feed(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    while (this.buf.length >= 8) {
      const len = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + len) return;
      const stream = this.buf[0] === 2 ? 'stderr' : 'stdout';
      this.emit(stream, this.buf.subarray(8, 8 + len));
      this.buf = this.buf.subarray(8 + len);
    }
  }

  write(data: string | Buffer): void {
    this.sock.write(typeof data === 'string' ? Buffer.from(data) : data);
  }

  /** Resolves once what was written so far is with the shim (then a close-stdin cannot overtake it). */
  flushed(): Promise<void> {
    return new Promise((resolve) => {
      if (this.sock.destroyed) resolve();
      else this.sock.write(Buffer.alloc(0), () => resolve());
    });
  }

  /** Close our side: the container's stdin sees EOF. */
  end(): void {
    this.sock.end();
  }

  close(): void {
    this.sock.destroy();
  }
}
