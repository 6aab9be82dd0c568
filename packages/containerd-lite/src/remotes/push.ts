/**
 * Pushing an image record to a registry: every blob the image needs (configs and layers), a few
 * at a time, each sent only when a HEAD says the repository lacks it, and mounted instead of
 * sent when its distribution-source label (source.ts) names another repository of the same
 * registry; then the manifests by digest, an index only after its manifests; then the image's
 * own manifest or index under the tag (or its digest). Every blob the repository holds in the
 * end is labelled as being there, for the next push elsewhere. With a platform, only that
 * platform's manifest of an index goes, under the tag, as `docker push --platform` does.
 *
 * The whole image must be stored locally: an index whose other platforms were never pulled
 * cannot be pushed whole (FailedPrecondition, pointing at --platform).
 */
import { ErrorKind, failedPrecondition, invalidArgument, isKind, notFound } from '@ctl/proto/errors';
import { checkAborted, checkBlob, checkDescriptor, readBlob } from '../archive/common';
import type { Content } from '../content/content';
import type { Images } from '../images/images';
import { type Descriptor, type ImageConfig, type Index, type Manifest, type Platform, isConfig, isIndex, isManifest } from '../oci';
import { format as formatPlatform, only } from '@ctl/proto/platforms';
import { formatReference, normalizeReference, parseNormalizedReference } from '@ctl/proto/reference';
import { eachInParallel, linkedSignal } from './parallel';
import { Registry, type RegistryOptions } from './registry';
import { mountSource, recordSource } from './source';

export interface PushProgress {
  /**
   * pushing: bytes of a blob sent so far (name = digest); exists: the repository had the blob;
   * pushed: a blob or manifest is in the repository (message "mounted from REPO" for a blob the
   * registry mounted); image: the reference now names the image (name, message = digest).
   */
  event: 'pushing' | 'exists' | 'pushed' | 'image';
  name: string;
  current: number;
  total: number;
  message?: string;
}

export interface PushOptions {
  content: Content;
  images: Images;
  /** Push only this platform's manifest (of an index). */
  platform?: Platform;
  registry?: Omit<RegistryOptions, 'signal'>;
  progress?: (event: PushProgress) => void;
  signal?: AbortSignal;
}

interface Tree {
  /** Configs and layers, each once. */
  blobs: Map<string, Descriptor>;
  /** Manifests and nested indexes below the top, each once, with its height (0: a manifest, 1: an index of manifests, …). */
  manifests: Map<string, { desc: Descriptor; height: number }>;
}

/**
 * Blobs sent at once. Uploads to one registry are bound by round trips and by the registry
 * hashing and storing what it receives, so a few in parallel keep both busy; more only queue.
 */
const PARALLEL = 4;

/** Pushes the image named source to target (default: source); returns what the target names. */
export async function pushImage(
  source: string,
  target: string | undefined,
  options: PushOptions,
): Promise<{ name: string; target: Descriptor }> {
  const { content, progress = () => undefined } = options;
  const sourceName = normalizeReference(source);
  const dest = parseNormalizedReference(target || source);
  const destName = formatReference(dest);
  const image = await options.images.get(sourceName).catch((err: unknown) => {
    if (isKind(err, ErrorKind.NotFound)) throw notFound(`image ${sourceName} not found`);
    throw err;
  });
  let top: Descriptor = { mediaType: image.target.mediaType, digest: image.target.digest, size: image.target.size };
  if (options.platform) top = await platformManifest(content, top, options.platform, sourceName);
  if (dest.digest && dest.digest !== top.digest)
    throw invalidArgument(
      `push ${destName}: the image's ${options.platform ? 'manifest' : 'target'} is ${top.digest}, not the digest the reference names`,
    );

  const tree: Tree = { blobs: new Map(), manifests: new Map() };
  await collect(content, top, tree, new Map(), sourceName, 0);
  // Where each blob could be mounted from, known before the first request: the token asks for
  // pull access to those repositories with the push access to the destination.
  const mountFrom = new Map<string, string>();
  for (const desc of tree.blobs.values()) {
    const from = mountSource((await content.info(desc.digest)).labels, dest.domain, dest.path);
    if (from) mountFrom.set(desc.digest, from);
  }
  const stop = new AbortController();
  const signal = linkedSignal(stop, options.signal);
  const registry = new Registry(dest.domain, dest.path, 'pull,push', { ...options.registry, signal }, mountFrom.values());
  const noteSource = (desc: Descriptor): Promise<void> => recordSource(content, desc.digest, dest.domain, dest.path);

  await eachInParallel([...tree.blobs.values()], PARALLEL, stop, async (desc) => {
    checkAborted(signal);
    if (await registry.hasBlob(desc.digest)) {
      progress({ event: 'exists', name: desc.digest, current: desc.size, total: desc.size });
    } else {
      const from = mountFrom.get(desc.digest);
      const how = await registry.pushBlob(
        desc,
        () => counted(content.read(desc.digest), (n) => progress({ event: 'pushing', name: desc.digest, current: n, total: desc.size })),
        from,
      );
      progress({
        event: 'pushed',
        name: desc.digest,
        current: desc.size,
        total: desc.size,
        ...(how === 'mounted' && { message: `mounted from ${from}` }),
      });
    }
    await noteSource(desc);
  });
  // A registry takes a manifest only once what it names is there: an index after its manifests.
  const below = [...tree.manifests.values()];
  const heights = [...new Set(below.map((m) => m.height))].sort((a, b) => a - b);
  for (const height of heights) {
    const level = below.filter((m) => m.height === height).map((m) => m.desc);
    await eachInParallel(level, PARALLEL, stop, async (desc) => {
      checkAborted(signal);
      await registry.putManifest(desc.digest, desc, await readBlob(content, desc, 'manifest'));
      progress({ event: 'pushed', name: desc.digest, current: desc.size, total: desc.size });
    });
  }
  checkAborted(signal);
  await registry.putManifest(dest.digest ?? dest.tag!, top, await readBlob(content, top, 'manifest'));
  progress({ event: 'image', name: destName, current: 0, total: 0, message: top.digest });
  return { name: destName, target: top };
}

async function* counted(source: AsyncIterable<Buffer>, report: (bytes: number) => void): AsyncIterable<Uint8Array> {
  let n = 0;
  for await (const chunk of source) {
    n += chunk.length;
    report(n);
    yield chunk;
  }
}

async function readJson<T>(content: Content, desc: Descriptor, what: string): Promise<T> {
  try {
    return JSON.parse((await readBlob(content, desc, what)).toString('utf8')) as T;
  } catch (err) {
    if (err instanceof SyntaxError) throw invalidArgument(`${what} ${desc.digest} is not valid JSON: ${err.message}`);
    throw err;
  }
}

/** Everything below desc, checked to be stored; returns desc's height (see Tree). */
async function collect(
  content: Content,
  desc: Descriptor,
  tree: Tree,
  seen: Map<string, number>,
  name: string,
  depth: number,
): Promise<number> {
  const known = seen.get(desc.digest);
  if (known !== undefined) return known;
  if (depth > 8) throw invalidArgument(`image ${name}: indexes nested more than 8 deep`);
  const missing = (err: unknown, what: string): never => {
    if (isKind(err, ErrorKind.NotFound)) {
      throw failedPrecondition(
        `image ${name}: ${what} ${desc.digest} is not stored here${desc.platform ? ` (platform ${formatPlatform(desc.platform)})` : ''}, so the whole image cannot be pushed; push one platform with --platform, or pull it with --all-platforms first`,
      );
    }
    throw err;
  };
  if (isIndex(desc.mediaType)) {
    const index = await readJson<Index>(content, desc, 'image index').catch((err: unknown) => missing(err, 'the image index'));
    if (!Array.isArray(index.manifests)) throw invalidArgument(`image index ${desc.digest} has no manifests list`);
    let height = 1;
    for (const [i, entry] of index.manifests.entries()) {
      const child = checkDescriptor(entry, `entry ${i} of image index ${desc.digest}`);
      if (isIndex(child.mediaType) || isManifest(child.mediaType)) {
        const below = await collect(content, child, tree, seen, name, depth + 1);
        if (!tree.manifests.has(child.digest)) tree.manifests.set(child.digest, { desc: child, height: below });
        height = Math.max(height, below + 1);
      } else {
        await checkBlob(content, child, 'blob').catch((err: unknown) => missing(err, 'the blob'));
        tree.blobs.set(child.digest, child);
      }
    }
    seen.set(desc.digest, height);
    return height;
  } else if (isManifest(desc.mediaType)) {
    const manifest = await readJson<Manifest>(content, desc, 'manifest').catch((err: unknown) => missing(err, 'the manifest'));
    if (!manifest.config || !Array.isArray(manifest.layers)) throw invalidArgument(`manifest ${desc.digest} has no config or layers`);
    for (const [i, d] of [manifest.config, ...manifest.layers].entries()) {
      const blob = checkDescriptor(d, i === 0 ? `config of manifest ${desc.digest}` : `layer ${i - 1} of manifest ${desc.digest}`);
      if (blob.urls?.length && /foreign|nondistributable/.test(blob.mediaType)) continue; // not ours to distribute
      await checkBlob(content, blob, 'blob').catch((err: unknown) => {
        if (isKind(err, ErrorKind.NotFound))
          throw failedPrecondition(`image ${name}: blob ${blob.digest} of manifest ${desc.digest} is not stored here; it cannot be pushed`);
        throw err;
      });
      tree.blobs.set(blob.digest, blob);
    }
    seen.set(desc.digest, 0);
    return 0;
  }
  throw invalidArgument(`image ${name}: ${desc.digest} is a ${desc.mediaType}, neither an image index nor an image manifest`);
}

/** The stored manifest of an image for a platform (the best match of an index's, or the image's own). */
async function platformManifest(content: Content, top: Descriptor, platform: Platform, name: string): Promise<Descriptor> {
  const matcher = only(platform);
  const platformOf = async (d: Descriptor): Promise<Platform | undefined> => {
    if (d.platform) return d.platform;
    const manifest = await readJson<Manifest>(content, d, 'manifest');
    if (!manifest.config || !isConfig(manifest.config.mediaType)) return undefined;
    const config = await readJson<ImageConfig>(content, manifest.config, 'image config');
    return { os: config.os, architecture: config.architecture, ...(config.variant && { variant: config.variant }) };
  };
  if (isManifest(top.mediaType)) {
    const p = await platformOf(top);
    if (!p || !matcher.match(p))
      throw notFound(`image ${name} is for ${p ? formatPlatform(p) : 'no platform'}, not ${formatPlatform(platform)}`);
    return top;
  }
  let best: { desc: Descriptor; platform: Platform } | undefined;
  const walk = async (index: Descriptor, depth: number): Promise<void> => {
    if (depth > 8) return;
    const parsed = await readJson<Index>(content, index, 'image index');
    for (const entry of parsed.manifests ?? []) {
      const child = checkDescriptor(entry, `entry of image index ${index.digest}`);
      try {
        if (isIndex(child.mediaType)) await walk(child, depth + 1);
        else if (isManifest(child.mediaType)) {
          await checkBlob(content, child, 'manifest');
          const p = await platformOf(child);
          if (p && matcher.match(p) && (!best || matcher.less(p, best.platform))) best = { desc: child, platform: p };
        }
      } catch (err) {
        if (!isKind(err, ErrorKind.NotFound)) throw err; // not stored: not a candidate
      }
    }
  };
  await walk(top, 0);
  if (!best) throw notFound(`image ${name} has no manifest for ${formatPlatform(platform)} stored here`);
  const { annotations: _a, platform: _p, ...plain } = best.desc;
  return plain;
}
