/**
 * Filesystem work of a build in synchronous calls, cut into slices. A tree of many small files
 * (a context of 1,000 files extracted, hashed, copied) costs a handful of syscalls per file;
 * through fs/promises each one is a trip to libuv's thread pool and back, and on a loaded host
 * every trip waits for a CPU twice, so the trips, not the syscalls, made up the time. Sync calls
 * do the same work without them; the slicer hands the event loop back every few milliseconds so
 * the daemon's other calls are not held up by a large tree.
 */
import { performance } from 'node:perf_hooks';

/** How long sync work may hold the event loop before it yields a turn. */
const SLICE_MS = 8;

export class Slicer {
  private since = performance.now();

  constructor(private readonly sliceMs = SLICE_MS) {}

  /** Resolves at once within the slice; past it, after one turn of the event loop. */
  async pause(): Promise<void> {
    if (performance.now() - this.since < this.sliceMs) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.since = performance.now();
  }
}
