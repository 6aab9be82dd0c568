/**
 * containerd's stdio FIFOs (CreateTaskRequest stdin/stdout/stderr): the client (ctr) makes them
 * and reads/writes their other ends. The shim does not open them; this bridge, in the daemon,
 * attaches to the shim's attach socket and copies stdout/stderr frames into the FIFOs and the
 * stdin FIFO into the socket. FIFOs are opened O_RDWR|O_NONBLOCK (never blocks, whether or not
 * the client has opened its end yet) and driven as libuv pipes, so a slow reader cannot hold up
 * the daemon's thread pool.
 *
 * Limits: the bridge lives in the daemon, so output while the daemon is down is not copied (it is
 * in the log file). An exec's output from before the bridge attaches (exec starts at once) is
 * kept for it by the shim (--backlog, the first 64 KiB).
 */
import { invalidArgument } from '@ctl/proto/errors';
import { Attachment } from '@ctl/runtime-native';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { ShimProcess } from './process';

export interface FifoPaths {
  stdin: string;
  stdout: string;
  stderr: string;
}

function openFifo(file: string, readable: boolean): net.Socket {
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
  const s = new net.Socket({ fd, readable, writable: !readable });
  s.on('error', () => undefined);
  return s;
}

export class FifoBridge {
  private constructor(
    private readonly attachment: Attachment,
    private readonly streams: net.Socket[],
  ) {}

  /** undefined when no FIFO is named (only absolute paths name FIFOs; see CreateTaskOptions). */
  static async open(attachSocket: string, fifos: FifoPaths): Promise<FifoBridge | undefined> {
    const abs = (p: string): string => (path.isAbsolute(p) ? p : '');
    const paths = { stdin: abs(fifos.stdin), stdout: abs(fifos.stdout), stderr: abs(fifos.stderr) };
    if (!paths.stdin && !paths.stdout && !paths.stderr) return undefined;
    const streams: net.Socket[] = [];
    try {
      const out = paths.stdout ? openFifo(paths.stdout, false) : undefined;
      if (out) streams.push(out);
      const err = paths.stderr ? openFifo(paths.stderr, false) : undefined;
      if (err) streams.push(err);
      const input = paths.stdin ? openFifo(paths.stdin, true) : undefined;
      if (input) streams.push(input);
      const a = await Attachment.connect(attachSocket);
      a.on('stdout', (d: Buffer) => out?.write(d));
      a.on('stderr', (d: Buffer) => (err ?? out)?.write(d));
      if (input) input.on('data', (d: Buffer) => a.write(d));
      const bridge = new FifoBridge(a, streams);
      a.on('close', () => bridge.close());
      return bridge;
    } catch (err) {
      for (const s of streams) s.destroy();
      throw err;
    }
  }

  /** Stops copying: output FIFOs are ended (the reader sees EOF once nothing else holds them). */
  close(): void {
    this.attachment.close();
    for (const s of this.streams) {
      if (s.writable) s.end(() => s.destroy());
      else s.destroy();
    }
  }
}

/** The open bridges of the daemon's processes, by process dir. */
export class FifoBridges {
  private readonly bridges = new Map<string, FifoBridge>();

  /** Connects containerd's stdio FIFOs, when the process was given any, to its shim. */
  async bridge(p: ShimProcess): Promise<void> {
    const b = await FifoBridge.open(path.join(p.dir, 'attach.sock'), p.stdio).catch((err: Error) => {
      throw invalidArgument(`stdio FIFOs of "${p.execId || path.basename(p.dir)}": ${err.message}`);
    });
    if (b) this.bridges.set(p.dir, b);
  }

  unbridge(dir: string): void {
    this.bridges.get(dir)?.close();
    this.bridges.delete(dir);
  }

  closeAll(): void {
    for (const b of this.bridges.values()) b.close();
    this.bridges.clear();
  }
}
