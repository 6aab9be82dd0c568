/**
 * The single pass over an archive's tar (see import.ts, "The pass"): blobs streamed into content,
 * small JSON files kept in memory, links recorded, the whole archive decompressed first when it is
 * gzip or zstd.
 */
import { EngineError, ErrorKind, invalidArgument, isKind, notFound } from '@ctl/proto/errors';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import type { Content, Writer } from '../content/content';
import { MAX_JSON_BYTES, type Progress, checkAborted, decompress } from './common';
import type { ImportOptions } from './import';

/** What the pass needs of the import's options. */
export type ScanOptions = Pick<ImportOptions, 'content' | 'lease' | 'progress' | 'signal'>;

/** What the single pass found. */
export interface Scan {
  /** Stored files: entry path → blob. */
  files: Map<string, { digest: string; size: number }>;
  /** Small files kept in memory: entry path → bytes. */
  small: Map<string, Buffer>;
  /** Symlinks and hard links: entry path → target entry path. */
  links: Map<string, string>;
  /** Bytes held in small. */
  smallBytes: number;
}

/** All the JSON files kept in memory together (configs of a many-image docker save are a few KiB each). */
const MAX_SMALL_TOTAL = 64 << 20;

/** One entry of the tar as tar-stream yields it: its header and its bytes. */
type TarEntry = AsyncIterable<unknown> & { header: tar.Header };

const BLOB_PATH = /^blobs\/sha256\/([a-f0-9]{64})$/;
const SMALL_NAMES = new Set(['oci-layout', 'index.json', 'manifest.json', 'repositories']);
export const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
export const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/** The entry name made relative and clean; InvalidArgument for absolute names and `..`. */
export function entryPath(name: string): string {
  const raw = name.replace(/\\/g, '/');
  if (raw.startsWith('/') || raw.split('/').includes('..'))
    throw invalidArgument(`archive entry "${name}": path escapes the archive (absolute or containing "..")`);
  const clean = posix
    .normalize(raw)
    .replace(/^(\.\/)+/, '')
    .replace(/\/+$/, '');
  if (clean === '.' || clean === '') return '';
  return clean;
}

function linkTarget(entry: string, linkname: string, hard: boolean): string {
  const raw = linkname.replace(/\\/g, '/');
  if (raw.startsWith('/')) throw invalidArgument(`archive entry "${entry}": link target "${linkname}" is absolute`);
  const resolved = posix.normalize(hard ? raw : posix.join(posix.dirname(entry), raw));
  if (resolved === '..' || resolved.startsWith('../'))
    throw invalidArgument(`archive entry "${entry}": link target "${linkname}" escapes the archive`);
  return resolved.replace(/^(\.\/)+/, '');
}

export interface WriteContext {
  content: Content;
  lease?: string;
  signal?: AbortSignal;
}

export async function readArchive(source: string | NodeJS.ReadableStream, options: ScanOptions): Promise<Scan> {
  const { content, progress = () => undefined, signal } = options;
  let total = 0;
  let input: Readable;
  if (typeof source === 'string') {
    try {
      total = (await stat(source)).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`archive ${source} not found`);
      throw err;
    }
    input = createReadStream(source, { highWaterMark: 1 << 20 });
  } else {
    input = source as Readable;
  }
  const archiveName = typeof source === 'string' ? source : 'archive';
  const scan: Scan = { files: new Map(), small: new Map(), links: new Map(), smallBytes: 0 };
  const importId = randomBytes(6).toString('hex');
  const extract = tar.extract();
  let read = 0;
  let reported = 0;
  let inputError: unknown;

  const counted = (async function* () {
    for await (const chunk of input) {
      read += (chunk as Buffer).length;
      if (read - reported >= 4 << 20) {
        reported = read;
        progress({ event: 'reading', name: archiveName, current: read, total });
      }
      yield chunk as Buffer;
    }
  })();

  // Feeds the archive (decompressed when it is a .tar.gz or .tar.zst, as `docker save | gzip`
  // makes) into the tar reader with backpressure; the reader's own errors end it.
  const pump = (async () => {
    try {
      for await (const chunk of await decompressed(counted, archiveName)) {
        if (extract.destroyed) break;
        if (!extract.write(chunk)) {
          await new Promise<void>((resolve) => {
            const done = () => {
              extract.off('drain', done);
              extract.off('close', done);
              resolve();
            };
            extract.on('drain', done);
            extract.on('close', done);
          });
        }
      }
      if (!extract.destroyed) extract.end(null);
    } catch (err) {
      inputError = err;
      extract.destroy(err as Error);
    }
  })();

  const onAbort = () => extract.destroy(new EngineError(ErrorKind.Canceled, 'canceled'));
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const entry of extract) {
      checkAborted(signal);
      await handleEntry(entry, scan, { content, lease: options.lease, signal }, importId, progress);
    }
  } catch (err) {
    if (signal?.aborted) checkAborted(signal);
    if (inputError)
      throw new EngineError(ErrorKind.Unknown, `read ${archiveName}: ${(inputError as Error).message}`, { cause: inputError });
    if (err instanceof EngineError) throw err;
    // tar-stream's own errors: not a tar, truncated, bad header.
    throw invalidArgument(`${archiveName} is not a valid tar archive: ${(err as Error).message}`);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (!extract.destroyed) extract.destroy(null);
    if (typeof source === 'string') input.destroy();
    await pump;
  }
  if (inputError) throw new EngineError(ErrorKind.Unknown, `read ${archiveName}: ${(inputError as Error).message}`, { cause: inputError });
  progress({ event: 'reading', name: archiveName, current: read, total: total || read });
  return scan;
}

/** The archive's bytes, decompressed when they start with gzip or zstd magic. */
async function decompressed(source: AsyncIterator<Buffer> & AsyncIterable<Buffer>, name: string): Promise<AsyncIterable<Uint8Array>> {
  let head = Buffer.alloc(0);
  while (head.length < 4) {
    const next = await source.next();
    if (next.done) break;
    head = Buffer.concat([head, next.value]);
  }
  const whole = (async function* () {
    if (head.length) yield head;
    yield* source;
  })();
  if (head.subarray(0, 2).equals(GZIP_MAGIC)) return decompress(whole, 'gzip', name);
  if (head.subarray(0, 4).equals(ZSTD_MAGIC)) return decompress(whole, 'zstd', name);
  return whole;
}

async function drain(entry: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of entry) {
    // discard
  }
}

async function handleEntry(entry: TarEntry, scan: Scan, ctx: WriteContext, importId: string, progress: Progress): Promise<void> {
  const header = entry.header;
  const path = entryPath(header.name);
  if (!path) return drain(entry);
  if (header.type === 'symlink' || header.type === 'link') {
    scan.links.set(path, linkTarget(path, header.linkname ?? '', header.type === 'link'));
    return drain(entry);
  }
  if (header.type !== 'file' && header.type !== 'contiguous-file') return drain(entry);
  scan.links.delete(path);
  const size = header.size ?? 0;
  if (SMALL_NAMES.has(path) || (!path.includes('/') && path.endsWith('.json'))) {
    if (size > MAX_JSON_BYTES)
      throw invalidArgument(`archive entry "${path}" is ${size} bytes, more than the ${MAX_JSON_BYTES} allowed for a JSON file`);
    scan.smallBytes += size - (scan.small.get(path)?.length ?? 0);
    if (scan.smallBytes > MAX_SMALL_TOTAL)
      throw invalidArgument(`archive entry "${path}": the archive's JSON files add up to more than ${MAX_SMALL_TOTAL} bytes`);
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    scan.small.set(path, Buffer.concat(chunks));
    return;
  }
  const blob = BLOB_PATH.exec(path);
  if (!blob && (path.startsWith('blobs/') || /\/(VERSION|json)$/.test(path))) return drain(entry);
  const expected = blob ? `sha256:${blob[1]}` : undefined;
  const ref = `import-${importId}-${path}`.slice(0, 4000);
  const digest = await storeEntry(entry, path, ref, size, expected, ctx, progress);
  scan.files.set(path, { digest, size });
  progress({ event: 'saved', name: path, current: size, total: size });
}

/** Streams one entry into a content writer; returns its digest. */
async function storeEntry(
  entry: TarEntry,
  path: string,
  ref: string,
  size: number,
  expected: string | undefined,
  ctx: WriteContext,
  progress: Progress,
): Promise<string> {
  let writer: Writer;
  try {
    writer = await ctx.content.writer(ref, { total: size, expected, lease: ctx.lease });
  } catch (err) {
    if (expected && isKind(err, ErrorKind.AlreadyExists)) {
      await drain(entry);
      return expected;
    }
    throw err;
  }
  let committed = false;
  try {
    let written = 0;
    let reported = 0;
    for await (const chunk of entry) {
      checkAborted(ctx.signal);
      written = await writer.write(chunk as Buffer);
      if (written - reported >= 4 << 20) {
        reported = written;
        progress({ event: 'blob', name: path, current: written, total: size });
      }
    }
    if (written !== size)
      throw invalidArgument(`archive entry "${path}": got ${written} bytes, its header says ${size} (truncated archive?)`);
    const digest = await writer.digest();
    if (expected && digest !== expected)
      throw invalidArgument(`archive entry "${path}": its content has digest ${digest}, not the ${expected} its name says`);
    try {
      await writer.commit(size, expected);
    } catch (err) {
      if (!isKind(err, ErrorKind.AlreadyExists)) throw err;
    }
    committed = true;
    return digest;
  } finally {
    if (!committed) await writer.abort().catch(() => undefined);
  }
}

export function resolvePath(scan: Scan, name: string, what: string): string {
  let path = entryPath(name);
  for (let hops = 0; scan.links.has(path); hops++) {
    if (hops > 16) throw invalidArgument(`${what} "${name}": too many levels of links`);
    path = scan.links.get(path)!;
  }
  return path;
}

export function parseSmall<T>(scan: Scan, path: string): T {
  try {
    return JSON.parse(scan.small.get(path)!.toString('utf8')) as T;
  } catch (err) {
    throw invalidArgument(`archive entry "${path}" is not valid JSON: ${(err as Error).message}`);
  }
}
