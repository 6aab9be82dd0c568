/**
 * What import and export share: progress events, cancellation, reading small JSON blobs from
 * the content store, and the platform selection rules.
 */
import { EngineError, ErrorKind, failedPrecondition, invalidArgument, isKind, notFound } from '@ctl/proto/errors';
import { spawn } from 'node:child_process';
import { createGunzip } from 'node:zlib';
import type { Content } from '../content/content';
import type { Compression, Descriptor, Platform } from '../oci';
import { type Matcher, all, any, hostPlatform } from '@ctl/proto/platforms';

export interface ProgressEvent {
  /**
   * reading: bytes of the archive read so far (current) of its size (total; 0 when the size
   * is unknown, e.g. a stream); blob: bytes of one blob written so far (name = the archive
   * entry on import, the digest on export); saved: a blob is complete; image: an image record
   * was made (import) or written (export), or a note (message) about one.
   */
  event: 'reading' | 'blob' | 'saved' | 'image';
  name: string;
  current: number;
  total: number;
  message?: string;
}

export type Progress = (event: ProgressEvent) => void;

/** Manifests, indexes and configs are small; anything larger in their place is refused. */
export const MAX_JSON_BYTES = 16 << 20;

export function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted)
    throw new EngineError(ErrorKind.Canceled, `canceled: ${String(signal.reason ?? 'aborted')}`, { cause: signal.reason });
}

/** The selection used for GC labels and for the manifests to unpack or export. */
export interface Selection {
  matcher: Matcher;
  /** One entry per requested platform (the host when none); empty with allPlatforms. */
  platforms: Platform[];
  allPlatforms: boolean;
}

export function selection(options: { platforms?: Platform[]; allPlatforms?: boolean }): Selection {
  if (options.allPlatforms) return { matcher: all, platforms: [], allPlatforms: true };
  const platforms = options.platforms?.length ? options.platforms : [hostPlatform()];
  return { matcher: any(...platforms), platforms, allPlatforms: false };
}

/** Reads a whole small blob (a manifest, index or config), checking the size its descriptor gives. */
export async function readBlob(content: Content, desc: Descriptor, what: string): Promise<Buffer> {
  const size = await checkBlob(content, desc, what);
  if (size > MAX_JSON_BYTES)
    throw invalidArgument(`${what} ${desc.digest} is ${size} bytes, more than the ${MAX_JSON_BYTES} allowed for JSON`);
  const chunks: Buffer[] = [];
  for await (const chunk of content.read(desc.digest)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

export async function readJson<T>(content: Content, desc: Descriptor, what: string): Promise<T> {
  const data = await readBlob(content, desc, what);
  try {
    return JSON.parse(data.toString('utf8')) as T;
  } catch (err) {
    throw invalidArgument(`${what} ${desc.digest} is not valid JSON: ${(err as Error).message}`);
  }
}

/** Checks a blob is present with the size its descriptor says. */
export async function checkBlob(content: Content, desc: Descriptor, what: string): Promise<number> {
  let size: number;
  try {
    size = (await content.info(desc.digest)).size;
  } catch (err) {
    if (isKind(err, ErrorKind.NotFound)) throw notFound(`${what} ${desc.digest} not found: the blob is missing`);
    throw err;
  }
  if (desc.size !== undefined && size !== desc.size)
    throw invalidArgument(`${what} ${desc.digest}: the blob has ${size} bytes, its descriptor says ${desc.size}`);
  return size;
}

export const SCHEMA1 = [
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
];

export function checkDescriptor(d: unknown, what: string): Descriptor {
  const desc = d as Descriptor;
  if (
    !desc ||
    typeof desc !== 'object' ||
    typeof desc.mediaType !== 'string' ||
    typeof desc.digest !== 'string' ||
    !Number.isSafeInteger(desc.size) ||
    desc.size < 0
  ) {
    throw invalidArgument(`${what}: not a valid descriptor (mediaType, digest, size): ${JSON.stringify(d)?.slice(0, 200)}`);
  }
  if (!/^sha256:[a-f0-9]{64}$/.test(desc.digest))
    throw invalidArgument(`${what}: digest "${desc.digest.slice(0, 80)}" is not sha256:<64 hex digits>`);
  if (SCHEMA1.includes(desc.mediaType)) throw invalidArgument(`${what} ${desc.digest}: Docker schema 1 manifests are not supported`);
  return desc;
}

export function waitEvent(emitter: NodeJS.EventEmitter, events: string[]): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      for (const e of events) emitter.off(e, done);
      resolve();
    };
    for (const e of events) emitter.on(e, done);
  });
}

/** Writes source into sink with backpressure, ending it; a source error destroys the sink. */
function feed(source: AsyncIterable<Uint8Array>, sink: NodeJS.WritableStream & { destroy(err?: Error): void; destroyed?: boolean }): void {
  (async () => {
    for await (const chunk of source) {
      if (sink.destroyed) return;
      if (!sink.write(chunk)) await waitEvent(sink, ['drain', 'close', 'error']);
    }
    if (!sink.destroyed) sink.end();
  })().catch((err) => sink.destroy(err as Error));
}

/** What decompress reads: a layer's compressions, and bzip2 and xz (ADD's local archives). */
export type StreamCompression = Compression | 'bzip2' | 'xz';

/**
 * The decompressed bytes of source, streamed: gzip with Node's zlib; zstd, bzip2 and xz through
 * Debian's `zstd -dc`, `bzip2 -dc`, `xz -dc`, since Node 20's zlib has none of them
 * (FailedPrecondition when the command is not installed).
 */
export function decompress(source: AsyncIterable<Uint8Array>, compression: StreamCompression, what: string): AsyncIterable<Uint8Array> {
  if (compression === 'none') return source;
  if (compression === 'gzip') {
    const gunzip = createGunzip({ chunkSize: 1 << 20 });
    feed(source, gunzip);
    return (async function* () {
      try {
        for await (const chunk of gunzip) yield chunk as Buffer;
      } catch (err) {
        if (err instanceof EngineError) throw err;
        throw invalidArgument(`gunzip ${what}: ${(err as Error).message}`);
      } finally {
        gunzip.destroy();
      }
    })();
  }
  const command = compression;
  const child = spawn(command, ['-dc', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve, reject) => {
    child.on('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'ENOENT'
          ? failedPrecondition(`${what} is ${command}-compressed, and the ${command} command that decompresses it is not installed`)
          : err,
      ),
    );
    child.on('close', (code, sig) =>
      code === 0 ? resolve() : reject(invalidArgument(`${command} -dc of ${what} failed (${sig ?? `exit ${code}`}): ${stderr.trim()}`)),
    );
  });
  exited.catch(() => undefined);
  child.stdin.on('error', () => undefined);
  feed(source, child.stdin);
  return (async function* () {
    try {
      for await (const chunk of child.stdout) yield chunk as Buffer;
      await exited;
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  })();
}
