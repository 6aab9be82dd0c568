/**
 * A writer of one ingest (containerd's content.Writer): the data file, the running digest, and
 * the ref's lock while it is open. Its bytes become a blob through the store (WriterStore), which
 * owns the records; a writer only ever commits bytes whose digest it has computed itself.
 */
import { EngineError, ErrorKind, failedPrecondition, isNoSpace, outOfRange } from '@ctl/proto';
import { validateLabels } from '@ctl/proto/labels';
import { now, parseTime } from '@ctl/proto/time';
import { type Hash, createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import type { KeyedQueue } from '@ctl/proto/keyed-queue';
import type { Status, Writer } from './content';
import { type IngestArea, READ_CHUNK, ingestKey, validateDigest, validateSize } from './ingests';

/** Ingest bytes whose digest and size the writer has checked, ready to become a blob of the namespace. */
export interface VerifiedData {
  namespace: string;
  digest: string;
  size: number;
  /** The ingest's data file, renamed into blobs/ by the commit. */
  dataPath: string;
  labels: Record<string, string>;
  /** The lease the writer was opened under, and its ref (the lease's ingest resource gives way to the blob). */
  lease?: { id: string; ref: string };
}

/** What a writer needs of its store: the ingest queue, the commit of verified bytes, and to let go of the ref. */
export interface WriterStore {
  /** Writer calls, aborts and commits of one ingest (by key) never interleave. */
  readonly queue: KeyedQueue;
  commitData(data: VerifiedData): Promise<unknown>;
  /** The writer has ended: the ref may be opened again. */
  release(writer: IngestWriter): void;
  abort(namespace: string, ref: string): Promise<void>;
}

/** An open ingest: the data file, the running digest, the ref's lock. */
export class IngestWriter implements Writer {
  private fh: FileHandle | undefined;
  private hash: Hash = createHash('sha256');
  private offset = 0;
  private total = 0;
  private expected = '';
  private lease: string | undefined;
  private startedAt: Date = now();
  private updatedAt: Date = now();
  /** Why the writer can no longer be used, once it cannot. */
  private ended: string | undefined;
  ready = false;

  readonly key: string;

  constructor(
    private readonly ingests: IngestArea,
    private readonly store: WriterStore,
    private readonly namespace: string,
    readonly ref: string,
  ) {
    this.key = ingestKey(namespace, ref);
  }

  get dataPath(): string {
    return this.ingests.dataPath(this.key);
  }

  /** Creates the ingest, or resumes it: the bytes already written are hashed again. */
  async open(total: number, expected: string, lease: string | undefined): Promise<void> {
    let meta = await this.ingests.readMeta(this.key);
    if (meta && (meta.namespace !== this.namespace || meta.ref !== this.ref)) {
      throw new EngineError(
        ErrorKind.Internal,
        `ingest ${this.key} belongs to ref "${meta.ref}" in "${meta.namespace}", not "${this.ref}" in "${this.namespace}"`,
      );
    }
    if (!meta) {
      meta = {
        namespace: this.namespace,
        ref: this.ref,
        total,
        expected,
        startedAt: now().toISOString(),
        ...(lease ? { lease } : {}),
      };
      await this.ingests.create(this.key, meta);
    } else if ((total > 0 && total !== meta.total) || (expected && expected !== meta.expected) || lease !== meta.lease) {
      // The latest expectations given win, as with containerd's Write; so does the lease (an
      // ingest resumed without one expires like any unleased ingest).
      const { lease: _old, ...rest } = meta;
      meta = { ...rest, total: total > 0 ? total : meta.total, expected: expected || meta.expected, ...(lease ? { lease } : {}) };
      await this.ingests.updateMeta(this.key, meta);
    }
    this.lease = lease;
    this.total = meta.total;
    this.expected = meta.expected;
    this.startedAt = parseTime(meta.startedAt);
    // A crash between a commit's rename and its record leaves the ingest without data.
    this.fh = await open(this.dataPath, constants.O_RDWR | constants.O_CREAT, 0o600);
    try {
      const st = await this.fh.stat();
      this.updatedAt = st.mtime;
      for await (const chunk of this.fh.createReadStream({ start: 0, highWaterMark: READ_CHUNK, autoClose: false })) {
        this.hash.update(chunk as Buffer);
        this.offset += (chunk as Buffer).length;
      }
    } catch (err) {
      await this.fh.close();
      this.fh = undefined;
      throw err;
    }
    this.ready = true;
  }

  private check(): FileHandle {
    if (this.ended || !this.fh) throw failedPrecondition(`writer of ingest ref "${this.ref}" is ${this.ended ?? 'closed'}`);
    return this.fh;
  }

  currentStatus(): Status {
    return {
      ref: this.ref,
      offset: this.offset,
      total: this.total,
      expected: this.expected,
      startedAt: this.startedAt,
      updatedAt: this.updatedAt,
    };
  }

  async status(): Promise<Status> {
    this.check();
    return this.currentStatus();
  }

  async digest(): Promise<string> {
    this.check();
    return `sha256:${this.hash.copy().digest('hex')}`;
  }

  write(data: Uint8Array | readonly Uint8Array[], offset?: number): Promise<number> {
    return this.store.queue.run(this.key, async () => {
      const fh = this.check();
      try {
        return await this.writeAt(fh, data, offset);
      } catch (err) {
        await this.end('closed after a failed write');
        if (isNoSpace(err))
          throw new EngineError(ErrorKind.ResourceExhausted, `write to ingest ref "${this.ref}": no space left on device`, { cause: err });
        throw err;
      }
    });
  }

  private async writeAt(fh: FileHandle, data: Uint8Array | readonly Uint8Array[], offset: number | undefined): Promise<number> {
    if (offset !== undefined && offset !== this.offset) {
      if (offset !== 0) {
        throw outOfRange(
          `write to ingest ref "${this.ref}" at offset ${offset}: writes continue at the current offset ${this.offset} or restart at 0`,
        );
      }
      await fh.truncate(0);
      this.hash = createHash('sha256');
      this.offset = 0;
    }
    const buffers = data instanceof Uint8Array ? [data] : data;
    const length = buffers.reduce((sum, b) => sum + b.length, 0);
    // The file write runs on libuv's threads while this thread hashes the same bytes. If the
    // write fails the writer ends, and the next one hashes what reached the file.
    const written = writeAllAt(fh, buffers, length, this.offset);
    for (const b of buffers) this.hash.update(b);
    await written;
    this.offset += length;
    this.updatedAt = now();
    return this.offset;
  }

  commit(size?: number, expected?: string, labels: Record<string, string> = {}): Promise<string> {
    return this.store.queue.run(this.key, async () => {
      const fh = this.check();
      let outcome = 'closed after a failed commit';
      try {
        const wantSize = validateSize(size, `commit size of ref "${this.ref}"`) || this.total;
        const wantDigest = expected ? validateDigest(expected) : this.expected;
        const validLabels = validateLabels(labels);
        if (wantSize > 0 && wantSize !== this.offset) {
          throw failedPrecondition(`commit of ingest ref "${this.ref}": it has ${this.offset} bytes, expected ${wantSize}`);
        }
        const actual = `sha256:${this.hash.copy().digest('hex')}`;
        if (wantDigest && wantDigest !== actual) {
          throw failedPrecondition(`commit of ingest ref "${this.ref}": its digest is ${actual}, expected ${wantDigest}`);
        }
        await fh.sync();
        await this.closeFile();
        try {
          await this.store.commitData({
            namespace: this.namespace,
            digest: actual,
            size: this.offset,
            dataPath: this.dataPath,
            labels: validLabels,
            lease: this.lease ? { id: this.lease, ref: this.ref } : undefined,
          });
        } catch (err) {
          // containerd drops the ingest when the namespace already has the blob.
          if (err instanceof EngineError && err.kind === ErrorKind.AlreadyExists) await this.ingests.drop(this.key);
          throw err;
        }
        await this.ingests.drop(this.key);
        outcome = 'committed';
        return actual;
      } finally {
        await this.end(outcome);
      }
    });
  }

  private async closeFile(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close();
  }

  private async end(why: string): Promise<void> {
    this.ended ??= why;
    await this.closeFile();
    this.store.release(this);
  }

  /** Ends the writer because its ingest is going away under it (Abort from elsewhere). */
  async invalidate(why: string): Promise<void> {
    await this.end(why);
  }

  close(): Promise<void> {
    return this.store.queue.run(this.key, async () => {
      if (this.fh) await this.fh.sync();
      await this.end('closed');
    });
  }

  async abort(): Promise<void> {
    await this.close();
    await this.store.abort(this.namespace, this.ref);
  }
}

/** Writes buffers (length bytes together) at position, with as few system calls as the file takes. */
async function writeAllAt(fh: FileHandle, buffers: readonly Uint8Array[], length: number, position: number): Promise<void> {
  let rest = buffers;
  for (let done = 0; done < length;) {
    const n = (await fh.writev(rest, position + done)).bytesWritten;
    done += n;
    if (done < length) rest = skipBytes(rest, n);
  }
}

/** The buffers less their first n bytes (after a short write). */
function skipBytes(buffers: readonly Uint8Array[], n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const b of buffers) {
    if (n >= b.length) n -= b.length;
    else {
      out.push(n ? b.subarray(n) : b);
      n = 0;
    }
  }
  return out;
}
