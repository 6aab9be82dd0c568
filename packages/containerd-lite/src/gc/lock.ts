/**
 * The lock between the garbage collector and the operations that make references.
 *
 * The rule it enforces: GC never takes what an operation in progress holds. An operation that
 * creates a reference — committing a blob (rename into blobs/ plus its record, with its lease
 * resource), opening a leased ingest, setting content labels, creating or updating an image,
 * creating a lease or adding a resource to it — runs under the lock *shared*; many of them run
 * at once. A collection runs its mark (reading every record) and its sweep of records and
 * snapshots under the lock *exclusive*, so it sees each such operation either wholly done
 * (the reference is there to mark) or not started (the thing it would reference is either
 * already held by something else, or not made yet, so not a candidate). Deleting blob files
 * and ingests that were already found unreferenced happens after the lock is released; those
 * steps re-check under the per-digest and per-ingest queues that nothing took them meanwhile.
 *
 * Waiting collections go first: once one waits, new shared holders queue behind it, so a
 * steady stream of writes cannot starve the collector (and a collection is short).
 *
 * Lock order, to stay free of deadlocks: this lock before the content store's digest queue;
 * never this lock exclusive while waiting on an ingest queue.
 */
export class GcLock {
  private readers = 0;
  private writer = false;
  private readonly waitingWriters: Array<() => void> = [];
  private readonly waitingReaders: Array<() => void> = [];

  /** Runs fn while no collection runs (other shared holders may run alongside). */
  async shared<T>(fn: () => Promise<T>): Promise<T> {
    if (this.writer || this.waitingWriters.length > 0) {
      await new Promise<void>((resolve) => this.waitingReaders.push(resolve));
    } else {
      this.readers++;
    }
    try {
      return await fn();
    } finally {
      this.readers--;
      this.wake();
    }
  }

  /** Runs fn alone: no shared holder and no other exclusive holder runs meanwhile. */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.writer || this.readers > 0 || this.waitingWriters.length > 0) {
      await new Promise<void>((resolve) => this.waitingWriters.push(resolve));
    } else {
      this.writer = true;
    }
    try {
      return await fn();
    } finally {
      this.writer = false;
      this.wake();
    }
  }

  private wake(): void {
    if (this.writer || this.readers > 0) return;
    const next = this.waitingWriters.shift();
    if (next) {
      this.writer = true;
      next();
      return;
    }
    const readers = this.waitingReaders.splice(0);
    this.readers += readers.length;
    for (const resolve of readers) resolve();
  }
}
