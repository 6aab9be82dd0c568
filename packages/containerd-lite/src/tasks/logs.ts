/** Reading a shim's log file (JSON lines {time, stream, log}), once or following it. */
import type { LogLine } from '@ctl/runtime-native';
import * as fs from 'node:fs';

export interface LogOptions {
  /** keep reading until the process has exited */
  follow?: boolean;
  /** only lines at or after this time */
  since?: Date;
  /** only the last n lines of what is there now (follow goes on after them) */
  tail?: number;
}

const FOLLOW_POLL_MS = 100;

function parse(lines: string[], since?: Date): LogLine[] {
  const out: LogLine[] = [];
  for (const l of lines) {
    if (!l.trim()) continue;
    try {
      const line = JSON.parse(l) as LogLine;
      if (!since || new Date(line.time) >= since) out.push(line);
    } catch {
      /* a torn line: skip */
    }
  }
  return out;
}

/** Lines of file; with follow, new lines as they come until exited() and nothing more is left. */
export async function* followLog(file: string, exited: () => boolean, o: LogOptions = {}): AsyncGenerator<LogLine> {
  let offset = 0;
  let rest = '';
  const readMore = (): string[] => {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch {
      return [];
    }
    try {
      const chunks: Buffer[] = [];
      const buf = Buffer.alloc(64 * 1024);
      for (;;) {
        const n = fs.readSync(fd, buf, 0, buf.length, offset);
        if (n <= 0) break;
        chunks.push(Buffer.from(buf.subarray(0, n)));
        offset += n;
      }
      const text = rest + Buffer.concat(chunks).toString('utf8');
      const lines = text.split('\n');
      rest = lines.pop() ?? '';
      return lines;
    } finally {
      fs.closeSync(fd);
    }
  };
  let first = parse(readMore(), o.since);
  if (o.tail !== undefined) first = o.tail > 0 ? first.slice(-o.tail) : [];
  yield* first;
  if (!o.follow) return;
  for (;;) {
    const done = exited();
    const more = parse(readMore(), o.since);
    yield* more;
    if (done) return;
    await new Promise((r) => setTimeout(r, FOLLOW_POLL_MS));
  }
}
