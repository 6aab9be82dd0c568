/**
 * The content store: blobs named by their digest (`sha256:<hex>`), written through resumable
 * ingests and read back as streams. The vocabulary is containerd's:
 *
 * - A **blob** is immutable bytes stored once under its digest. It is visible in a namespace
 *   only once that namespace has committed it (or an ingest of it); each namespace keeps its
 *   own labels and timestamps for it, and deleting it in one namespace leaves it in others.
 * - An **ingest** is a write in progress, named by a ref the client chooses (unique within the
 *   namespace). A writer holds the ingest while it is open, so one ref has at most one writer;
 *   closing a writer without committing keeps what was written, and the next writer opened on
 *   the same ref continues at that offset. The digest is computed while the bytes stream in.
 * - **Commit** checks the size and digest the writer was given (or commit is given), then makes
 *   the blob appear in one atomic step; a commit that fails leaves no blob, and an interrupted
 *   write or commit never shows up as one.
 *
 * Sizes are byte counts; an expected total or size of 0 means "not checked".
 */

export interface Info {
  digest: string;
  size: number;
  createdAt: Date;
  updatedAt: Date;
  labels: Record<string, string>;
}

/** The progress of one ingest. */
export interface Status {
  ref: string;
  /** Bytes written so far. */
  offset: number;
  /** The size the writer was told to expect (0: unknown). */
  total: number;
  /** The digest the writer was told to expect (empty: unknown). */
  expected: string;
  startedAt: Date;
  updatedAt: Date;
}

export interface WriterOptions {
  /** Expected size, checked at commit. */
  total?: number;
  /** Expected digest, checked at commit; AlreadyExists at once if the namespace has it. */
  expected?: string;
  /**
   * A lease (of the same namespace) that holds the ingest and, once committed, the blob, so the
   * garbage collector leaves both until the lease goes. Recorded in the same write as the ingest
   * and the blob's record (as containerd does through the `containerd-lease` header).
   */
  lease?: string;
}

export interface ReadOptions {
  /** First byte to read (default 0); past the end is OutOfRange. */
  offset?: number;
  /** Bytes to read; 0 or more than remain reads to the end. */
  size?: number;
}

/**
 * An open ingest. Calls are made one at a time. A write or commit that fails closes the writer
 * (what was written stays, for a new writer on the same ref), as a failed Write stream does.
 */
export interface Writer {
  readonly ref: string;
  /**
   * The file the ingest's bytes go to, for a reader on this host that follows the write (a
   * pull's unpack); only the local store's writers have one. The commit moves it into the store.
   */
  readonly dataPath?: string;
  status(): Promise<Status>;
  /** The digest of the bytes written so far. */
  digest(): Promise<string>;
  /**
   * Appends data: one buffer, or several in order (the local store writes them with one
   * system call, so a caller that gathers chunks need not copy them into one). An offset, when
   * given, must be the current one, or 0 to start over (what was written is dropped); any
   * other offset is OutOfRange. Returns the new offset.
   */
  write(data: Uint8Array | readonly Uint8Array[], offset?: number): Promise<number>;
  /**
   * Stores the bytes as a blob. size and expected default to the writer's total and expected;
   * a mismatch is FailedPrecondition and commits nothing (the ingest stays, to be resumed or
   * aborted). AlreadyExists when the namespace already has the blob (the ingest is dropped).
   * Closes the writer either way. Returns the blob's digest.
   */
  commit(size?: number, expected?: string, labels?: Record<string, string>): Promise<string>;
  /** Releases the ingest, keeping its progress for a later writer on the same ref. */
  close(): Promise<void>;
  /** Closes the writer and drops the ingest. */
  abort(): Promise<void>;
}

/** The content API of one namespace, the same for the local store and the remote client. */
export interface Content {
  /** NotFound when the namespace does not have the blob. */
  info(digest: string): Promise<Info>;
  /**
   * Replaces the labels, or with field paths only those listed: "labels" (all of them) or
   * "labels.<key>" (one; an empty value removes it). Any other path is InvalidArgument.
   */
  update(info: Pick<Info, 'digest' | 'labels'>, fieldpaths?: string[]): Promise<Info>;
  /** Blobs matching any of the filters (containerd syntax; fields digest and labels.<key>). */
  list(filters?: string[]): Promise<Info[]>;
  /** Removes the blob from the namespace (from disk when no namespace has it any more). */
  delete(digest: string): Promise<void>;
  /** The blob's bytes, streamed in chunks, never held whole. */
  read(digest: string, options?: ReadOptions): AsyncIterable<Buffer>;
  /** NotFound when there is no ingest for ref. */
  status(ref: string): Promise<Status>;
  /** Ingests matching any of the filters (field ref). */
  listStatuses(filters?: string[]): Promise<Status[]>;
  /**
   * Opens (or resumes) the ingest ref. Unavailable while another writer holds it;
   * AlreadyExists when expected names a blob the namespace already has.
   */
  writer(ref: string, options?: WriterOptions): Promise<Writer>;
  /** Drops an ingest (NotFound when there is none), also one a writer holds. */
  abort(ref: string): Promise<void>;
}
