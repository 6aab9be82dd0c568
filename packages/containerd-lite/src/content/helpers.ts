/**
 * Writing a whole blob through any Content (local or remote), as containerd's
 * content.WriteBlob does: wait for a ref another writer holds, resume at the offset the ingest
 * has reached, verify, commit, and take "already exists" as success.
 */
import { ErrorKind, found, isKind } from '@ctl/proto/errors';
import type { Content, Writer } from './content';

export interface WriteBlobOptions {
  /** Expected size (checked at commit; 0 or absent: not checked). */
  total?: number;
  /** Expected digest; when the namespace already has it nothing is written. */
  expected?: string;
  labels?: Record<string, string>;
  /** A lease that holds the ingest and the blob (the `containerd-lease` header over the wire). */
  lease?: string;
  /** How long to wait for a ref another writer holds, in milliseconds (default 30 s). */
  lockTimeoutMs?: number;
}

/**
 * The bytes of the blob from an offset on; called again with the ingest's offset when a write
 * resumes, so a source that cannot seek should skip that many bytes itself.
 */
export type BlobSource = (offset: number) => AsyncIterable<Uint8Array>;

async function openWriter(content: Content, ref: string, options: WriteBlobOptions): Promise<Writer | undefined> {
  const deadline = Date.now() + (options.lockTimeoutMs ?? 30_000);
  for (let delay = 2; ; delay = Math.min(delay * 2, 500)) {
    try {
      return await content.writer(ref, { total: options.total, expected: options.expected, lease: options.lease });
    } catch (err) {
      if (isKind(err, ErrorKind.AlreadyExists)) return undefined;
      if (!isKind(err, ErrorKind.Unavailable) || Date.now() + delay > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/** Writes (or finishes writing) one blob under ref; returns its digest. */
export async function writeBlob(content: Content, ref: string, source: BlobSource, options: WriteBlobOptions = {}): Promise<string> {
  const writer = await openWriter(content, ref, options);
  if (!writer) return options.expected!;
  let digest: string;
  try {
    let offset = (await writer.status()).offset;
    // More bytes than the blob has: what is there cannot be it, so start over.
    if (options.total && offset > options.total) offset = await writer.write(new Uint8Array(0), 0);
    for await (const chunk of source(offset)) {
      if (chunk.length) await writer.write(chunk);
    }
    // Without an expected digest, the one of the bytes written names the blob if another ref
    // commits the same bytes first.
    digest = options.expected || (await writer.digest());
  } catch (err) {
    await writer.close().catch(() => undefined);
    throw err;
  }
  try {
    return await writer.commit(options.total ?? 0, options.expected, options.labels);
  } catch (err) {
    if (isKind(err, ErrorKind.AlreadyExists)) return digest;
    throw err;
  }
}

/** A BlobSource over bytes in memory (small blobs: manifests, configs). */
export function bytesSource(data: Uint8Array): BlobSource {
  return async function* (offset) {
    if (offset < data.length) yield data.subarray(offset);
  };
}

/** Whether the namespace has the blob. */
export const hasBlob = (content: Content, digest: string): Promise<boolean> => found(content.info(digest));
