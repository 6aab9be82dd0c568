/**
 * The CLI's text output (tables, ids, JSON, messages) written with write(2) on the descriptor.
 * The first touch of process.stdout or process.stderr builds a stream for it, and with it
 * Node's stream, tty or net modules: ~2.5 ms of CPU that a short command like `ctl --version`
 * would otherwise spend on one line. Order against writes through process.stdout (a container's
 * output, say) holds, because Node writes stdio synchronously on Linux (files, pipes and ttys).
 *
 * A descriptor that cannot take the whole text now (a non-blocking pipe that is full: EAGAIN) or
 * fails (EPIPE, EBADF) gets the rest through the stream, which queues, reports as before, and
 * from then on gets every write, so that nothing overtakes what it holds.
 */
import { writeSync } from 'node:fs';

export type Writer = (text: string) => void;

export function descriptorWriter(fd: 1 | 2): Writer {
  const stream = (): NodeJS.WriteStream => (fd === 1 ? process.stdout : process.stderr);
  let streamOnly = false;
  return (text) => {
    if (streamOnly) {
      stream().write(text);
      return;
    }
    const bytes = Buffer.from(text);
    let done = 0;
    try {
      while (done < bytes.length) done += writeSync(fd, bytes, done);
    } catch {
      streamOnly = true;
      stream().write(bytes.subarray(done));
    }
  };
}
