/**
 * Exporting images from the content store into an archive, streamed: blobs go from content
 * reads straight into tar entries whose sizes come from the store, never whole in memory.
 *
 * oci-archive: `oci-layout`, every blob reachable from the images (for the selected
 * platforms) under `blobs/sha256/<hex>`, then `index.json` with one entry per reference: the
 * image's target descriptor with `io.containerd.image.name` (the image name) and, when the
 * name has a tag, `org.opencontainers.image.ref.name` (the tag). Unless skipDockerManifest,
 * also a `manifest.json` pointing into blobs/ for each tagged image (one platform each), as
 * Docker ≥ 25 and containerd write it, so older `docker load` reads the archive too. A multi-platform image keeps
 * its index blob as it is, so it may list manifests that are not in the archive: those of
 * unselected platforms, and those absent from the local store (imported or pulled for one
 * platform only), which are skipped with a progress message rather than failing. An image
 * that ends up with no manifest at all is NotFound.
 *
 * docker-archive (the classic `docker save` ≤ 24 layout that `docker load` and skopeo read):
 * `manifest.json` ([{Config, RepoTags, Layers}], RepoTags as familiar names, e.g.
 * busybox:latest; references without a tag get no RepoTag), `<config hex>.json`,
 * `<diff id hex>/layer.tar` per distinct layer (uncompressed, so its sha256 is the diff id),
 * and `repositories`. One platform per image: the best match for the selected platforms
 * (host by default); allPlatforms is refused. Compressed layers are decompressed while
 * streaming: gzip with Node's zlib, zstd through the `zstd -dc` command (Node 20's zlib has
 * none; a clear FailedPrecondition when it is not installed). A tar header needs the size
 * first, so a compressed layer is decompressed twice: once to measure it and check its diff
 * id, once into the archive (no temporary copy on disk).
 *
 * To a path the archive is written under a temporary name in the same directory, fsynced and
 * renamed, so the path shows either nothing (or the old file) or the whole archive. A stream
 * given as output is ended when the archive is complete (and destroyed on failure).
 */
import { EngineError, ErrorKind, invalidArgument, isKind, notFound } from '@ctl/proto/errors';
import { createHash, randomBytes } from 'node:crypto';
import { type WriteStream, createWriteStream } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import * as tar from 'tar-stream';
import type { Content } from '../content/content';
import { hasBlob } from '../content/helpers';
import type { Image, Images } from '../images/images';
import {
  Annotation,
  type Descriptor,
  type ImageConfig,
  type Index,
  type Manifest,
  MediaType,
  type Platform,
  isIndex,
  isManifest,
  layerCompression,
} from '../oci';
import { hostPlatform, only } from '@ctl/proto/platforms';
import { familiarName, isReference, normalizeReference, parseNormalizedReference } from '@ctl/proto/reference';
import { type Progress, checkAborted, decompress, waitEvent, checkBlob, checkDescriptor, readBlob, readJson, selection } from './common';

export interface ExportOptions {
  content: Content;
  images: Images;
  /** Image names (exact, or references that normalise to one: busybox → docker.io/library/busybox:latest). */
  references: string[];
  format: 'oci-archive' | 'docker-archive';
  /** Platforms to export; default: the host. */
  platforms?: Platform[];
  /** Every platform present locally (oci-archive only). */
  allPlatforms?: boolean;
  /** oci-archive: leave out the Docker-compatible manifest.json (written by default). */
  skipDockerManifest?: boolean;
  progress?: Progress;
  signal?: AbortSignal;
}

export interface ExportResult {
  images: { name: string; target: Descriptor }[];
  /** Blobs written (oci-archive) or files (docker-archive). */
  entries: number;
}

const MTIME = new Date(0);

async function resolveImages(images: Images, references: string[]): Promise<Image[]> {
  if (!references.length) throw invalidArgument('export: no image references given');
  const out = new Map<string, Image>();
  for (const ref of references) {
    let image: Image | undefined;
    try {
      image = await images.get(ref);
    } catch (err) {
      if (!isKind(err, ErrorKind.NotFound)) throw err;
      const normalized = isReference(ref) ? normalizeReference(ref) : undefined;
      if (normalized && normalized !== ref) {
        try {
          image = await images.get(normalized);
        } catch (err2) {
          if (!isKind(err2, ErrorKind.NotFound)) throw err2;
        }
      }
    }
    if (!image) throw notFound(`image "${ref}" not found`);
    out.set(image.name, image);
  }
  return [...out.values()];
}

/** A tar being written to the output, one entry at a time. */
class TarOut {
  private readonly pack = tar.pack();
  private failure: unknown;
  private readonly consumer: Promise<void>;
  private file: WriteStream | undefined;
  private tmp: string | undefined;
  private target: string | undefined;
  entries = 0;

  private constructor(private readonly out: NodeJS.WritableStream) {
    // Errors are kept in failure and thrown from add/finish; streamx would throw unheard ones.
    this.pack.on('error', () => undefined);
    this.consumer = (async () => {
      try {
        for await (const chunk of this.pack as AsyncIterable<Buffer>) {
          if (!out.write(chunk)) await waitEvent(out as NodeJS.EventEmitter, ['drain', 'close', 'error']);
          const destroyed = (out as { destroyed?: boolean }).destroyed;
          if (destroyed) throw new Error('output closed');
        }
      } catch (err) {
        this.failure ??= err;
        this.pack.destroy(err as Error);
      }
    })();
    (out as NodeJS.EventEmitter).on('error', (err: unknown) => {
      this.failure ??= err;
      this.pack.destroy(err as Error);
    });
  }

  static async open(output: string | NodeJS.WritableStream): Promise<TarOut> {
    if (typeof output !== 'string') return new TarOut(output);
    const tmp = join(dirname(output), `.${basename(output)}.tmp-${randomBytes(4).toString('hex')}`);
    // flush: fsync before the close, so the rename below publishes whole data.
    const ws = createWriteStream(tmp, { flags: 'wx', mode: 0o644, flush: true, highWaterMark: 1 << 20 });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          err.code === 'ENOENT'
            ? notFound(`export to ${output}: directory ${dirname(output)} does not exist`)
            : new EngineError(ErrorKind.Unknown, `export to ${output}: ${err.message}`, { cause: err }),
        ),
      );
    });
    const t = new TarOut(ws);
    t.file = ws;
    t.tmp = tmp;
    t.target = output;
    return t;
  }

  private check(): void {
    if (this.failure)
      throw new EngineError(ErrorKind.Unknown, `write archive: ${(this.failure as Error).message ?? String(this.failure)}`, {
        cause: this.failure,
      });
  }

  async add(name: string, size: number, data: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> {
    this.check();
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null) => (err ? reject(err) : resolve());
      if (data instanceof Uint8Array) {
        this.pack.entry({ name, size: data.length, mode: 0o644, mtime: MTIME, type: 'file' }, data, done);
        return;
      }
      const sink = this.pack.entry({ name, size, mode: 0o644, mtime: MTIME, type: 'file' }, done);
      sink.on('error', () => undefined);
      (async () => {
        let written = 0;
        for await (const chunk of data) {
          written += chunk.length;
          if (written > size) throw invalidArgument(`archive entry "${name}": more than the ${size} bytes expected`);
          const gone = () => (sink as unknown as { destroying: boolean }).destroying || sink.destroyed;
          if (gone()) throw new Error(`archive entry "${name}" was closed`);
          if (!sink.write(chunk) && !gone()) await waitEvent(sink as unknown as NodeJS.EventEmitter, ['drain', 'close', 'error']);
          this.check();
        }
        if (written !== size) throw invalidArgument(`archive entry "${name}": ${written} bytes, ${size} expected`);
        sink.end(null);
      })().catch((err) => {
        sink.destroy(err);
        reject(err);
      });
    });
    this.entries++;
  }

  async finish(): Promise<void> {
    this.check();
    this.pack.finalize();
    await this.consumer;
    this.check();
    if (this.file) {
      const ws = this.file;
      await new Promise<void>((resolve, reject) => {
        ws.once('close', resolve);
        ws.once('error', reject);
        ws.end();
      });
      this.check();
      await rename(this.tmp!, this.target!);
      this.tmp = undefined;
      this.file = undefined;
    } else {
      await new Promise<void>((resolve) => (this.out as NodeJS.WritableStream & { end(cb: () => void): void }).end(resolve));
    }
  }

  async fail(err: unknown): Promise<void> {
    this.failure ??= err;
    this.pack.destroy(err as Error);
    await this.consumer;
    if (this.file) {
      const ws = this.file;
      if (!ws.closed) await new Promise<void>((resolve) => ws.destroy().once('close', () => resolve()));
      if (this.tmp) await unlink(this.tmp).catch(() => undefined);
    } else {
      (this.out as unknown as { destroy(err?: unknown): void }).destroy?.(err);
    }
  }
}

export async function exportArchive(output: string | NodeJS.WritableStream, options: ExportOptions): Promise<ExportResult> {
  const { signal } = options;
  checkAborted(signal);
  if (options.format !== 'oci-archive' && options.format !== 'docker-archive')
    throw invalidArgument(`export: unknown format "${options.format}" (oci-archive or docker-archive)`);
  if (options.format === 'docker-archive' && options.allPlatforms)
    throw invalidArgument('export: a docker-archive holds one platform per image; choose platforms instead of all platforms');
  const images = await resolveImages(options.images, options.references);
  // Plan (and check) everything before the first byte is written.
  const plan = options.format === 'oci-archive' ? await planOci(images, options) : await planDocker(images, options);
  checkAborted(signal);
  const out = await TarOut.open(output);
  try {
    await plan.write(out);
    await out.finish();
  } catch (err) {
    await out.fail(err);
    if (signal?.aborted) checkAborted(signal);
    throw err;
  }
  return { images: images.map((i) => ({ name: i.name, target: i.target })), entries: out.entries };
}

interface Plan {
  write(out: TarOut): Promise<void>;
}

function blobSource(
  content: Content,
  digest: string,
  size: number,
  progress: Progress,
  signal: AbortSignal | undefined,
): AsyncIterable<Uint8Array> {
  return (async function* () {
    let done = 0;
    let reported = 0;
    for await (const chunk of content.read(digest)) {
      checkAborted(signal);
      done += chunk.length;
      if (done - reported >= 4 << 20) {
        reported = done;
        progress({ event: 'blob', name: digest, current: done, total: size });
      }
      yield chunk;
    }
  })();
}

async function planOci(images: Image[], options: ExportOptions): Promise<Plan> {
  const { content, progress = () => undefined, signal } = options;
  const sel = selection(options);
  const blobs = new Map<string, number>();
  const add = async (desc: Descriptor, what: string) => {
    if (!blobs.has(desc.digest)) blobs.set(desc.digest, await checkBlob(content, desc, what));
  };
  const walk = async (desc: Descriptor, what: string, depth: number): Promise<number> => {
    checkAborted(signal);
    if (depth > 8) throw invalidArgument(`${what} ${desc.digest}: indexes nested more than 8 deep`);
    if (isIndex(desc.mediaType)) {
      const index = await readJson<Index>(content, desc, what);
      let manifests = 0;
      for (const [i, raw] of (index.manifests ?? []).entries()) {
        const child = checkDescriptor(raw, `entry ${i} of image index ${desc.digest}`);
        if (isManifest(child.mediaType) && child.platform && !sel.matcher.match(child.platform)) continue;
        if (!isManifest(child.mediaType) && !isIndex(child.mediaType)) continue;
        if (!(await hasBlob(content, child.digest))) {
          progress({
            event: 'image',
            name: child.digest,
            current: 0,
            total: 0,
            message: `skipped manifest ${child.digest} of ${desc.digest}: not in the content store`,
          });
          continue;
        }
        manifests += await walk(child, `manifest of image index ${desc.digest}`, depth + 1);
      }
      await add(desc, what);
      return manifests;
    }
    if (!isManifest(desc.mediaType))
      throw invalidArgument(`${what} ${desc.digest}: media type "${desc.mediaType}" is neither an image index nor a manifest`);
    const manifest = await readJson<Manifest>(content, desc, what);
    await add(checkDescriptor(manifest.config, `config of manifest ${desc.digest}`), `config of manifest ${desc.digest}:`);
    for (const [i, layer] of (manifest.layers ?? []).entries())
      await add(checkDescriptor(layer, `layer ${i} of manifest ${desc.digest}`), `layer ${i} of manifest ${desc.digest}:`);
    await add(desc, what);
    return 1;
  };
  const entries: Descriptor[] = [];
  for (const image of images) {
    if ((await walk(image.target, `image "${image.name}":`, 0)) === 0) {
      throw notFound(`image "${image.name}": no manifest for the selected platform(s) is in the content store`);
    }
    const annotations: Record<string, string> = { ...(image.target.annotations ?? {}), [Annotation.imageName]: image.name };
    delete annotations[Annotation.refName];
    const tag = isReference(image.name) ? parseNormalizedReference(image.name).tag : undefined;
    if (tag) annotations[Annotation.refName] = tag;
    entries.push({ ...image.target, annotations });
  }
  const dockerManifest = options.skipDockerManifest
    ? []
    : await dockerManifestEntries(content, images, sel.allPlatforms ? [hostPlatform()] : sel.platforms, blobs);
  return {
    async write(out) {
      await out.add('oci-layout', 0, Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
      for (const [digest, size] of blobs) {
        checkAborted(signal);
        await out.add(`blobs/sha256/${digest.slice(7)}`, size, blobSource(content, digest, size, progress, signal));
        progress({ event: 'saved', name: digest, current: size, total: size });
      }
      const index: Index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: entries };
      await out.add('index.json', 0, Buffer.from(JSON.stringify(index)));
      if (dockerManifest.length) await out.add('manifest.json', 0, Buffer.from(JSON.stringify(dockerManifest)));
      for (const e of entries) progress({ event: 'image', name: e.annotations![Annotation.imageName]!, current: 0, total: 0 });
    },
  };
}

/**
 * manifest.json entries for an OCI export, as Docker ≥ 25 and containerd write them, so
 * `docker load` of Docker ≤ 24 reads the archive too: per tagged image, the manifest for the
 * first selected platform (the host with allPlatforms), when all its blobs are in the archive.
 */
async function dockerManifestEntries(
  content: Content,
  images: Image[],
  platforms: Platform[],
  blobs: Map<string, number>,
): Promise<{ Config: string; RepoTags: string[]; Layers: string[] }[]> {
  const byManifest = new Map<string, { Config: string; RepoTags: string[]; Layers: string[] }>();
  for (const image of images) {
    const ref = isReference(image.name) ? parseNormalizedReference(image.name) : undefined;
    if (!ref?.tag) continue;
    let desc: Descriptor;
    try {
      desc = await pickManifest(content, image, platforms);
    } catch (err) {
      if (isKind(err, ErrorKind.NotFound)) continue;
      throw err;
    }
    if (!blobs.has(desc.digest)) continue;
    const manifest = await readJson<Manifest>(content, desc, `manifest of image "${image.name}"`);
    const digests = [manifest.config?.digest, ...(manifest.layers ?? []).map((l) => l.digest)];
    if (!digests.every((d) => typeof d === 'string' && blobs.has(d))) continue;
    const path = (d: string) => `blobs/sha256/${d.slice(7)}`;
    let entry = byManifest.get(desc.digest);
    if (!entry)
      byManifest.set(
        desc.digest,
        (entry = { Config: path(manifest.config.digest), RepoTags: [], Layers: manifest.layers.map((l) => path(l.digest)) }),
      );
    entry.RepoTags.push(familiarName({ domain: ref.domain, path: ref.path, tag: ref.tag }));
  }
  return [...byManifest.values()];
}

/** The uncompressed bytes of a layer blob. */
function uncompressed(content: Content, layer: Descriptor, signal: AbortSignal | undefined): AsyncIterable<Uint8Array> {
  const compression = layerCompression(layer.mediaType);
  if (!compression) throw invalidArgument(`layer ${layer.digest}: media type "${layer.mediaType}" is not a layer docker-archive can hold`);
  return decompress(
    blobSource(content, layer.digest, layer.size, () => undefined, signal),
    compression,
    `layer ${layer.digest}`,
  );
}

interface DockerImage {
  config: Descriptor;
  layers: { desc: Descriptor; diffId: string }[];
  tags: string[];
}

async function planDocker(images: Image[], options: ExportOptions): Promise<Plan> {
  const { content, progress = () => undefined, signal } = options;
  const sel = selection(options);
  const byManifest = new Map<string, DockerImage>();
  for (const image of images) {
    const manifestDesc = await pickManifest(content, image, sel.platforms);
    const manifest = await readJson<Manifest>(content, manifestDesc, `manifest of image "${image.name}"`);
    const config = checkDescriptor(manifest.config, `config of manifest ${manifestDesc.digest}`);
    const cfg = await readJson<ImageConfig>(content, config, `config of image "${image.name}"`);
    const diffIds = cfg.rootfs?.diff_ids ?? [];
    const layers = (manifest.layers ?? []).map((l, i) => checkDescriptor(l, `layer ${i} of manifest ${manifestDesc.digest}`));
    if (diffIds.length !== layers.length)
      throw invalidArgument(`image "${image.name}": ${layers.length} layers but its config lists ${diffIds.length} diff_ids`);
    for (const [i, layer] of layers.entries()) {
      await checkBlob(content, layer, `layer ${i} of image "${image.name}":`);
      if (layerCompression(layer.mediaType) === undefined)
        throw invalidArgument(`layer ${i} of image "${image.name}": media type "${layer.mediaType}" cannot go in a docker-archive`);
      if (!/^sha256:[a-f0-9]{64}$/.test(diffIds[i]!))
        throw invalidArgument(`image "${image.name}": diff id ${i} "${diffIds[i]}" is not a sha256 digest`);
    }
    let entry = byManifest.get(manifestDesc.digest);
    if (!entry)
      byManifest.set(manifestDesc.digest, (entry = { config, layers: layers.map((desc, i) => ({ desc, diffId: diffIds[i]! })), tags: [] }));
    const ref = isReference(image.name) ? parseNormalizedReference(image.name) : undefined;
    if (ref?.tag) entry.tags.push(familiarName({ domain: ref.domain, path: ref.path, tag: ref.tag }));
    else
      progress({ event: 'image', name: image.name, current: 0, total: 0, message: `${image.name} has no tag: exported without a RepoTag` });
  }
  return {
    async write(out) {
      const written = new Set<string>();
      const manifestJson: { Config: string; RepoTags: string[]; Layers: string[] }[] = [];
      const repositories: Record<string, Record<string, string>> = {};
      for (const image of byManifest.values()) {
        const configName = `${image.config.digest.slice(7)}.json`;
        if (!written.has(configName)) {
          await out.add(configName, image.config.size, await readBlob(content, image.config, 'config'));
          written.add(configName);
        }
        const layerNames: string[] = [];
        for (const { desc, diffId } of image.layers) {
          checkAborted(signal);
          const dir = diffId.slice(7);
          const name = `${dir}/layer.tar`;
          layerNames.push(name);
          if (written.has(name)) continue;
          let size = desc.size;
          if (layerCompression(desc.mediaType) !== 'none') {
            // First pass: the size for the tar header, and the diff id checked.
            const hash = createHash('sha256');
            size = 0;
            for await (const chunk of uncompressed(content, desc, signal)) {
              hash.update(chunk);
              size += chunk.length;
            }
            const actual = `sha256:${hash.digest('hex')}`;
            if (actual !== diffId)
              throw invalidArgument(`layer ${desc.digest} decompresses to ${actual}, but the config's diff id is ${diffId}`);
          }
          progress({ event: 'blob', name: desc.digest, current: 0, total: size });
          await out.add(name, size, uncompressed(content, desc, signal));
          progress({ event: 'saved', name: desc.digest, current: size, total: size });
          written.add(name);
        }
        manifestJson.push({ Config: configName, RepoTags: image.tags, Layers: layerNames });
        const top = layerNames.length ? layerNames[layerNames.length - 1]!.split('/')[0]! : '';
        for (const tag of image.tags) {
          const colon = tag.lastIndexOf(':');
          (repositories[tag.slice(0, colon)] ??= {})[tag.slice(colon + 1)] = top;
          progress({ event: 'image', name: tag, current: 0, total: 0 });
        }
      }
      await out.add('manifest.json', 0, Buffer.from(JSON.stringify(manifestJson)));
      if (Object.keys(repositories).length) await out.add('repositories', 0, Buffer.from(JSON.stringify(repositories)));
    },
  };
}

/** The one manifest of an image for a docker-archive: the target, or the best platform match in its index. */
async function pickManifest(content: Content, image: Image, platforms: Platform[]): Promise<Descriptor> {
  let candidates: Descriptor[] = [];
  const collect = async (desc: Descriptor, depth: number): Promise<void> => {
    if (depth > 8) throw invalidArgument(`image "${image.name}": indexes nested more than 8 deep`);
    if (isManifest(desc.mediaType)) {
      candidates.push(desc);
      return;
    }
    if (!isIndex(desc.mediaType))
      throw invalidArgument(`image "${image.name}": media type "${desc.mediaType}" is neither an image index nor a manifest`);
    const index = await readJson<Index>(content, desc, `index of image "${image.name}"`);
    for (const [i, raw] of (index.manifests ?? []).entries()) {
      const child = checkDescriptor(raw, `entry ${i} of image index ${desc.digest}`);
      if ((isManifest(child.mediaType) && child.platform) || isIndex(child.mediaType)) {
        if (await hasBlob(content, child.digest)) await (isIndex(child.mediaType) ? collect(child, depth + 1) : candidates.push(child));
      }
    }
  };
  if (isManifest(image.target.mediaType)) return image.target;
  await collect(image.target, 0);
  candidates = candidates.filter((c) => c.platform);
  for (const p of platforms) {
    const m = only(p);
    let best: Descriptor | undefined;
    for (const c of candidates) if (m.match(c.platform!) && (!best || m.less(c.platform!, best.platform!))) best = c;
    if (best) return best;
  }
  throw notFound(
    `image "${image.name}": no manifest for ${platforms.map((p) => [p.os, p.architecture, p.variant].filter(Boolean).join('/')).join(', ')} is in the content store`,
  );
}
