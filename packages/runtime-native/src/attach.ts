/**
 * A client of the shim's attach socket: output arrives in Docker's multiplexed framing (8-byte
 * header: stream 1 = stdout, 2 = stderr, 3 zero bytes, uint32 big-endian length), input goes to
 * the container's stdin (the shim must have been started with stdin).
 */
import { EventEmitter } from 'node:events';
import type * as net from 'node:net';
import { connectUnix } from './unix-path';

/** Events: 'stdout' and 'stderr' (chunk: Buffer), 'close'. */
export class Attachment extends EventEmitter {
  private buf = Buffer.alloc(0);

  private constructor(private readonly sock: net.Socket) {
    super();
    sock.on('data', (d: Buffer) => this.feed(d));
    sock.on('close', () => this.emit('close'));
    sock.on('error', () => undefined);
  }

  static connect(socketPath: string): Promise<Attachment> {
    return new Promise((resolve, reject) => {
      const sock = connectUnix(socketPath);
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
    this.sock.write(data);
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
