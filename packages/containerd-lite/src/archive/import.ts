/**
 * Importing an image archive into the content store and image records, in one streaming pass
 * over the tar (containerd's images/archive importer plus `ctr images import`'s naming).
 *
 * The archive may be compressed as a whole (gzip or zstd, detected by magic), as
 * `docker save | gzip` makes it.
 *
 * Formats:
 *   - oci-archive: an OCI image layout in a tar (skopeo, umoci, buildah, containerd export);
 *     detected by `oci-layout`. Docker ≥ 25 `docker save` archives are OCI layouts too (they
 *     also carry manifest.json), and the layout wins.
 *   - docker-archive: `docker save` ≤ 24 (and skopeo's docker-archive); detected by
 *     manifest.json. Each manifest.json entry becomes a Docker schema2 manifest (config typed
 *     as a Docker config, layers `…rootfs.diff.tar`, or `…diff.tar.gzip` / OCI `+zstd` when the
 *     stored file starts with gzip or zstd magic) with the entry's layer files as blobs, and
 *     all of them are listed in one OCI index (as ctr does); the index entries carry the
 *     platform from the config and, per RepoTag, the naming annotations. So both formats end
 *     in the same shape: a top-level index whose entries are the archive's images.
 *
 * The pass: `blobs/sha256/<hex>` entries are streamed into content writers expecting that
 * digest and the entry's size; the small JSON files (oci-layout, index.json, manifest.json,
 * repositories, top-level `*.json` configs) are buffered, at most 16 MiB each; classic
 * metadata (`<id>/VERSION`, `<id>/json`) is skipped; any other regular file (classic
 * `<id>/layer.tar`, skopeo's `<hex>.tar`) is streamed into content with the digest the writer
 * computes. Symlinks and hard links are recorded and followed when manifest.json names them.
 * Unreferenced files end up as unreferenced blobs held only by the lease (as with ctr).
 *
 * Then the walk, before any image record is touched: top-level index → each entry (index or
 * manifest) → nested indexes → manifests → config and layers, all checked to be present with
 * their descriptor sizes; GC labels are set on the parents (index `gc.ref.content.m.<i>`, i
 * the child's position in the index; manifest `gc.ref.content.config` and
 * `gc.ref.content.l.<i>`). Labels are only added, never removed, so a later import for other
 * platforms widens what is kept. Inside an image index only the
 * manifests of the selected platforms are labelled and checked (so the others can be
 * collected); each top-level entry is an image the archive names and is kept whole, whatever
 * its platform.
 *
 * Naming (per top-level entry, in order; the last entry of a name wins):
 *   1. `io.containerd.image.name`, verbatim;
 *   2. else `org.opencontainers.image.ref.name`: when it is a full reference (has "/", ":" or
 *      "@" and parses), normalised (busybox:1 → docker.io/library/busybox:1); otherwise a tag,
 *      named `<baseName>:<ref.name>` (skipped with a message when there is no baseName);
 *   3. else `<baseName>@<digest>` with a baseName, otherwise skipped with a progress message.
 * docker-archive RepoTags are normalised the same way (busybox:latest → docker.io/library/busybox:latest).
 * Unlike ctr, a baseName does not filter out full ref.names outside it, and there is no
 * `import-<date>` default prefix.
 */
import { EngineError, ErrorKind, invalidArgument, isKind, notFound } from '@ctl/proto/errors';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import type { Content, Writer } from '../content/content';
import type { Images } from '../images/images';
import {
  Annotation,
  type Descriptor,
  type ImageConfig,
  type Index,
  Label,
  type Manifest,
  MediaType,
  type Platform,
  isConfig,
  isIndex,
  isManifest,
  layerCompression,
  sha256,
} from '../oci';
import { only } from '../platforms';
import { isReference, normalizeReference, parseNormalizedReference } from '@ctl/proto/reference';
import {
  MAX_JSON_BYTES,
  type Progress,
  type Selection,
  checkAborted,
  decompress,
  checkBlob,
  checkDescriptor,
  readJson,
  selection,
} from './common';

export interface ImportOptions {
  content: Content;
  images: Images;
  /** Passed to every content writer, so what is written stays until the caller's lease goes. */
  lease?: string;
  /** Default '' = detect (oci-layout ⇒ OCI layout, else manifest.json ⇒ docker-archive). */
  format?: 'oci-archive' | 'docker-archive' | '';
  /** Platforms whose manifests to keep (label) and return for unpacking; default: the host. */
  platforms?: Platform[];
  /** Keep and return every platform. */
  allPlatforms?: boolean;
  /** Prefix for names: `<baseName>:<ref.name>` for tag-only ref names, `<baseName>@<digest>` for unnamed entries. */
  baseName?: string;
  progress?: Progress;
  signal?: AbortSignal;
}

export interface ImportedImage {
  name: string;
  /** The top-level index entry (a manifest or an image index), annotations included. */
  target: Descriptor;
  /**
   * The platform manifests to unpack for this image: for each requested platform (the host
   * by default) the best match (platforms.only ordering), or with allPlatforms every image
   * manifest with a known platform. Each carries `platform` (from the index entry, else from
   * its config). Empty when nothing matches (the image is still recorded whole).
   */
  manifests: Descriptor[];
}

export interface ImportResult {
  /** The top-level index stored in content: index.json, or the one made for a docker-archive. */
  index: Descriptor;
  images: ImportedImage[];
  /** The union of the images' manifests, each once: what an unpacker needs to unpack. */
  manifests: Descriptor[];
}

/** What the single pass found. */
interface Scan {
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
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

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

export async function importArchive(source: string | NodeJS.ReadableStream, options: ImportOptions): Promise<ImportResult> {
  const { content, progress = () => undefined, signal } = options;
  const sel = selection(options);
  checkAborted(signal);
  const scan = await readArchive(source, options);
  checkAborted(signal);

  const has = (p: string) => scan.small.has(p) || scan.files.has(p) || scan.links.has(p);
  let format = options.format || '';
  if (!format) {
    if (has('oci-layout')) format = 'oci-archive';
    else if (has('manifest.json')) format = 'docker-archive';
    else
      throw invalidArgument('the archive is neither an OCI image layout (no oci-layout file) nor a docker save archive (no manifest.json)');
  }
  const writeOptions = { content, lease: options.lease, signal };
  const index = format === 'oci-archive' ? await ociIndex(scan, writeOptions) : await dockerIndex(scan, writeOptions);
  checkAborted(signal);

  // Walk, check and label everything before naming anything.
  const top = await readJson<Index>(content, index, 'index');
  if (!Array.isArray(top.manifests)) throw invalidArgument(`index ${index.digest} has no manifests list`);
  const entries = top.manifests.map((d, i) => checkDescriptor(d, `index.json entry ${i}`));
  await setLabels(content, index.digest, Object.fromEntries(entries.map((d, i) => [`${Label.gcRefContent}m.${i}`, d.digest])));
  const walker = new Walker(content, sel, signal);
  const perEntry: Descriptor[][] = [];
  for (const entry of entries) perEntry.push(await walker.walk(entry, 'image'));

  // Names.
  const named = new Map<string, ImportedImage>();
  entries.forEach((entry, i) => {
    const name = imageName(entry, options.baseName, progress);
    if (!name) return;
    named.delete(name);
    named.set(name, { name, target: entry, manifests: pickManifests(perEntry[i]!, sel) });
  });
  const images = [...named.values()];
  for (const image of images) {
    if (!image.manifests.length) {
      progress({
        event: 'image',
        name: image.name,
        current: 0,
        total: 0,
        message: `no manifest for the selected platform(s) in ${image.name}; nothing to unpack`,
      });
    }
  }

  for (const image of images) {
    checkAborted(signal);
    await recordImage(options.images, image.name, image.target);
    progress({ event: 'image', name: image.name, current: 0, total: 0, message: `${image.name}: ${image.target.digest}` });
  }
  const manifests = new Map<string, Descriptor>();
  for (const image of images) for (const m of image.manifests) if (!manifests.has(m.digest)) manifests.set(m.digest, m);
  return { index, images, manifests: [...manifests.values()] };
}

function imageName(entry: Descriptor, baseName: string | undefined, progress: Progress): string | undefined {
  const annotations = entry.annotations ?? {};
  const full = annotations[Annotation.imageName];
  if (full) return full;
  const ref = annotations[Annotation.refName];
  if (ref) {
    if (/[/:@]/.test(ref) && isReference(ref)) return normalizeReference(ref);
    if (baseName) {
      const combined = `${baseName}:${ref}`;
      return isReference(combined) ? normalizeReference(combined) : combined;
    }
    progress({
      event: 'image',
      name: entry.digest,
      current: 0,
      total: 0,
      message: `skipped ${entry.digest}: ref name "${ref}" is only a tag and no base name was given`,
    });
    return undefined;
  }
  if (baseName) {
    const byDigest = `${baseName}@${entry.digest}`;
    return isReference(byDigest) ? normalizeReference(byDigest) : byDigest;
  }
  progress({
    event: 'image',
    name: entry.digest,
    current: 0,
    total: 0,
    message: `skipped ${entry.digest}: the archive gives it no name (use a base name to name it by digest)`,
  });
  return undefined;
}

/** Points the image record name at target, making it when there is none (a race with another maker is fine). */
export async function recordImage(images: Images, name: string, target: Descriptor): Promise<void> {
  try {
    await images.update({ name, target }, ['target']);
  } catch (err) {
    if (!isKind(err, ErrorKind.NotFound)) throw err;
    try {
      await images.create({ name, target });
    } catch (err2) {
      if (!isKind(err2, ErrorKind.AlreadyExists)) throw err2;
      await images.update({ name, target }, ['target']);
    }
  }
}

/**
 * Whether an index entry is kept (labelled, walked, fetched) under a selection. Entries without
 * a platform pass the filter, as with containerd's FilterPlatforms.
 */
export const isSelected = (sel: Selection, child: Descriptor): boolean =>
  !isManifest(child.mediaType) || !child.platform || sel.matcher.match(child.platform);

/** The manifests to unpack among those an image's walk found (see ImportedImage.manifests). */
export function pickManifests(found: Descriptor[], sel: Selection): Descriptor[] {
  const runnable = found.filter((d) => d.platform && d.platform.os !== 'unknown' && d.platform.architecture !== 'unknown');
  if (sel.allPlatforms) return runnable;
  const picked = new Map<string, Descriptor>();
  for (const p of sel.platforms) {
    const m = only(p);
    let best: Descriptor | undefined;
    for (const d of runnable) if (m.match(d.platform!) && (!best || m.less(d.platform!, best.platform!))) best = d;
    if (best && !picked.has(best.digest)) picked.set(best.digest, best);
  }
  return [...picked.values()];
}

async function setLabels(content: Content, digest: string, labels: Record<string, string>): Promise<void> {
  const keys = Object.keys(labels);
  if (!keys.length) return;
  await content.update(
    { digest, labels },
    keys.map((k) => `labels.${k}`),
  );
}

/**
 * Walks an image (index or manifest) whose blobs are in content, checking them and setting GC
 * labels; returns its selected manifests with platforms. Import and pull both end with it.
 */
export class Walker {
  private readonly done = new Map<string, Descriptor[]>();

  constructor(
    private readonly content: Content,
    private readonly sel: Selection,
    private readonly signal: AbortSignal | undefined,
  ) {}

  async walk(desc: Descriptor, what: string, depth = 0): Promise<Descriptor[]> {
    checkAborted(this.signal);
    if (depth > 8) throw invalidArgument(`${what} ${desc.digest}: indexes nested more than 8 deep`);
    const key = `${desc.digest} ${JSON.stringify(desc.platform ?? null)}`;
    const cached = this.done.get(key);
    if (cached) return cached;
    let found: Descriptor[];
    if (isIndex(desc.mediaType)) found = await this.walkIndex(desc, what, depth);
    else if (isManifest(desc.mediaType)) found = [await this.walkManifest(desc, what)];
    else throw invalidArgument(`${what} ${desc.digest}: media type "${desc.mediaType}" is neither an image index nor an image manifest`);
    this.done.set(key, found);
    return found;
  }

  private async walkIndex(desc: Descriptor, what: string, depth: number): Promise<Descriptor[]> {
    const index = await readJson<Index>(this.content, desc, what === 'image' ? 'image index' : what);
    if (index.mediaType && !isIndex(index.mediaType))
      throw invalidArgument(`image index ${desc.digest} says its media type is "${index.mediaType}"`);
    if (!Array.isArray(index.manifests)) throw invalidArgument(`image index ${desc.digest} has no manifests list`);
    const children = index.manifests.map((d, i) => checkDescriptor(d, `entry ${i} of image index ${desc.digest}`));
    const selected = children.filter((c) => isSelected(this.sel, c));
    const found: Descriptor[] = [];
    for (const child of selected) {
      if (!isIndex(child.mediaType) && !isManifest(child.mediaType)) continue; // artifacts: not ours to walk
      found.push(...(await this.walk(child, `manifest of image index ${desc.digest}`, depth + 1)));
    }
    // Numbered by position in the index (not among the selected), so importing again for
    // another platform adds labels and never repoints one that protects an earlier choice.
    await setLabels(
      this.content,
      desc.digest,
      Object.fromEntries(children.flatMap((c, i) => (isSelected(this.sel, c) ? [[`${Label.gcRefContent}m.${i}`, c.digest]] : []))),
    );
    return found;
  }

  private async walkManifest(desc: Descriptor, what: string): Promise<Descriptor> {
    const manifest = await readJson<Manifest>(this.content, desc, what === 'image' ? 'image manifest' : what);
    if ((manifest as { schemaVersion?: number }).schemaVersion !== 2)
      throw invalidArgument(
        `manifest ${desc.digest}: schemaVersion ${(manifest as { schemaVersion?: number }).schemaVersion} is not supported (schema 1 manifests are refused)`,
      );
    if (manifest.mediaType && !isManifest(manifest.mediaType))
      throw invalidArgument(`manifest ${desc.digest} says its media type is "${manifest.mediaType}"`);
    const config = checkDescriptor(manifest.config, `config of manifest ${desc.digest}`);
    if (!Array.isArray(manifest.layers)) throw invalidArgument(`manifest ${desc.digest} has no layers list`);
    const layers = manifest.layers.map((l, i) => checkDescriptor(l, `layer ${i} of manifest ${desc.digest}`));
    await checkBlob(this.content, config, `config of manifest ${desc.digest}:`);
    for (const [i, layer] of layers.entries()) await checkBlob(this.content, layer, `layer ${i} of manifest ${desc.digest}:`);
    let platform = desc.platform;
    if (isConfig(config.mediaType)) {
      const cfg = await readJson<ImageConfig>(this.content, config, `config of manifest ${desc.digest}:`);
      const diffIds = cfg.rootfs?.diff_ids;
      if (!Array.isArray(diffIds) || diffIds.length !== layers.length) {
        throw invalidArgument(
          `manifest ${desc.digest} has ${layers.length} layers but its config ${config.digest} lists ${Array.isArray(diffIds) ? diffIds.length : 'no'} diff_ids`,
        );
      }
      for (const [i, layer] of layers.entries()) {
        if (layerCompression(layer.mediaType) === undefined)
          throw invalidArgument(`layer ${i} of manifest ${desc.digest}: media type "${layer.mediaType}" is not an image layer type`);
      }
      platform ??= { os: cfg.os, architecture: cfg.architecture, ...(cfg.variant && { variant: cfg.variant }) };
    } else {
      platform = undefined; // not a runnable image (an attestation or other artifact)
    }
    await setLabels(this.content, desc.digest, {
      [`${Label.gcRefContent}config`]: config.digest,
      ...Object.fromEntries(layers.map((l, i) => [`${Label.gcRefContent}l.${i}`, l.digest])),
    });
    const { annotations: _annotations, ...plain } = desc;
    return platform ? { ...plain, platform } : plain;
  }
}

// ---- the single pass over the tar ----

interface WriteContext {
  content: Content;
  lease?: string;
  signal?: AbortSignal;
}

async function readArchive(source: string | NodeJS.ReadableStream, options: ImportOptions): Promise<Scan> {
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

// ---- from what the pass found to a top-level index in content ----

function resolvePath(scan: Scan, name: string, what: string): string {
  let path = entryPath(name);
  for (let hops = 0; scan.links.has(path); hops++) {
    if (hops > 16) throw invalidArgument(`${what} "${name}": too many levels of links`);
    path = scan.links.get(path)!;
  }
  return path;
}

function parseSmall<T>(scan: Scan, path: string): T {
  try {
    return JSON.parse(scan.small.get(path)!.toString('utf8')) as T;
  } catch (err) {
    throw invalidArgument(`archive entry "${path}" is not valid JSON: ${(err as Error).message}`);
  }
}

async function putJson(ctx: WriteContext, data: Buffer, mediaType: string, what: string): Promise<Descriptor> {
  const digest = sha256(data);
  let writer: Writer;
  try {
    writer = await ctx.content.writer(`import-${randomBytes(6).toString('hex')}-${what}`, {
      total: data.length,
      expected: digest,
      lease: ctx.lease,
    });
  } catch (err) {
    if (isKind(err, ErrorKind.AlreadyExists)) return { mediaType, digest, size: data.length };
    throw err;
  }
  try {
    await writer.write(data);
    await writer.commit(data.length, digest);
  } catch (err) {
    if (!isKind(err, ErrorKind.AlreadyExists)) {
      await writer.abort().catch(() => undefined);
      throw err;
    }
  }
  return { mediaType, digest, size: data.length };
}

async function ociIndex(scan: Scan, ctx: WriteContext): Promise<Descriptor> {
  const layoutPath = resolvePath(scan, 'oci-layout', 'oci-layout');
  if (!scan.small.has(layoutPath)) throw invalidArgument('the archive is not an OCI image layout: no oci-layout file');
  const layout = parseSmall<{ imageLayoutVersion?: string }>(scan, layoutPath);
  if (typeof layout?.imageLayoutVersion !== 'string' || !layout.imageLayoutVersion.startsWith('1.')) {
    throw invalidArgument(`oci-layout: imageLayoutVersion ${JSON.stringify(layout?.imageLayoutVersion)} is not supported (1.x)`);
  }
  const indexPath = resolvePath(scan, 'index.json', 'index.json');
  const data = scan.small.get(indexPath);
  if (!data) throw invalidArgument('the OCI image layout has no index.json');
  const index = parseSmall<Index>(scan, indexPath);
  if (!index || !Array.isArray(index.manifests)) throw invalidArgument('index.json has no manifests list');
  if (index.mediaType && !isIndex(index.mediaType)) throw invalidArgument(`index.json says its media type is "${index.mediaType}"`);
  return putJson(ctx, data, MediaType.ociIndex, 'index.json');
}

interface DockerManifestEntry {
  Config?: string;
  RepoTags?: string[] | null;
  Layers?: string[];
}

async function sniff(content: Content, digest: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of content.read(digest, { size: 4 })) {
    chunks.push(chunk);
    n += chunk.length;
    if (n >= 4) break;
  }
  return Buffer.concat(chunks);
}

async function dockerIndex(scan: Scan, ctx: WriteContext): Promise<Descriptor> {
  if (!scan.small.has('manifest.json')) throw invalidArgument('the archive is not a docker save archive: no manifest.json');
  const entries = parseSmall<DockerManifestEntry[]>(scan, 'manifest.json');
  if (!Array.isArray(entries)) throw invalidArgument('manifest.json is not a list of images');
  const manifests: Descriptor[] = [];
  for (const [i, entry] of entries.entries()) {
    const what = `manifest.json entry ${i}`;
    if (!entry || typeof entry.Config !== 'string' || !Array.isArray(entry.Layers))
      throw invalidArgument(`${what}: Config and Layers are required`);
    // The config: buffered (<hex>.json) or stored (blobs/sha256/<hex> in Docker ≥ 25 archives).
    const configPath = resolvePath(scan, entry.Config, `${what} Config`);
    let configData = scan.small.get(configPath);
    if (!configData) {
      const stored = scan.files.get(configPath);
      if (!stored) throw notFound(`${what}: config "${entry.Config}" is not in the archive`);
      configData = await (async () => {
        const chunks: Buffer[] = [];
        for await (const c of ctx.content.read(stored.digest)) chunks.push(c);
        return Buffer.concat(chunks);
      })();
    }
    let config: ImageConfig;
    try {
      config = JSON.parse(configData.toString('utf8')) as ImageConfig;
    } catch (err) {
      throw invalidArgument(`${what}: config "${entry.Config}" is not valid JSON: ${(err as Error).message}`);
    }
    const hexName = /^([a-f0-9]{64})\.json$/.exec(posix.basename(configPath))?.[1];
    const configDesc = await putJson(ctx, configData, MediaType.dockerConfig, configPath);
    if (hexName && `sha256:${hexName}` !== configDesc.digest)
      throw invalidArgument(`${what}: config "${entry.Config}" has digest ${configDesc.digest}, not the one its name says`);
    const diffIds = config?.rootfs?.diff_ids;
    if (!Array.isArray(diffIds) || diffIds.length !== entry.Layers.length) {
      throw invalidArgument(
        `${what}: ${entry.Layers.length} layers but the config lists ${Array.isArray(diffIds) ? diffIds.length : 'no'} diff_ids`,
      );
    }
    const layers: Descriptor[] = [];
    for (const layerName of entry.Layers) {
      const path = resolvePath(scan, layerName, `${what} layer`);
      const stored = scan.files.get(path);
      if (!stored) throw notFound(`${what}: layer "${layerName}" is not in the archive`);
      const magic = await sniff(ctx.content, stored.digest);
      const mediaType = magic.subarray(0, 2).equals(GZIP_MAGIC)
        ? MediaType.dockerLayerGzip
        : magic.equals(ZSTD_MAGIC)
          ? MediaType.ociLayerZstd
          : MediaType.dockerLayer;
      layers.push({ mediaType, digest: stored.digest, size: stored.size });
    }
    const manifest: Manifest = { schemaVersion: 2, mediaType: MediaType.dockerManifest, config: configDesc, layers };
    const desc = await putJson(ctx, Buffer.from(JSON.stringify(manifest)), MediaType.dockerManifest, `manifest-${i}`);
    const platform: Platform | undefined =
      config.os && config.architecture
        ? { architecture: config.architecture, os: config.os, ...(config.variant && { variant: config.variant }) }
        : undefined;
    const base: Descriptor = { ...desc, ...(platform && { platform }) };
    const tags = (entry.RepoTags ?? []).filter((t) => typeof t === 'string' && t);
    if (!tags.length) manifests.push(base);
    for (const tag of tags) {
      const ref = parseNormalizedReference(tag);
      manifests.push({
        ...base,
        annotations: { [Annotation.imageName]: normalizeReference(tag), ...(ref.tag && { [Annotation.refName]: ref.tag }) },
      });
    }
  }
  const index: Index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests };
  return putJson(ctx, Buffer.from(JSON.stringify(index)), MediaType.ociIndex, 'index');
}
