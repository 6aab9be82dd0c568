/**
 * Pulling an image from a registry into the content store and an image record: resolve the
 * reference to a manifest or index, fetch the selected platforms' manifests, then their configs,
 * then their layers in order (a few blobs at a time, each digest and size checked while it
 * streams into a content writer), then the same walk an import ends with (checks and GC labels;
 * see archive/import.ts), and only then the image record. The caller's unpack runs alongside the
 * layers' fetch: it starts once the configs are in, and applies each layer, once the layer below
 * it is committed, from the file its bytes are going to (following it while it downloads), and
 * commits the layer's snapshot only once the blob is committed (so only over bytes whose digest
 * was checked); the image is named only when both the fetch and the unpack are done. Everything
 * is written under the caller's lease, so a pull that fails leaves no name and only blobs and
 * snapshots the collector takes once the lease goes; a blob whose bytes do not match its digest
 * is never committed.
 * Every blob of the pull is labelled with the repository it is in (source.ts), so a push to
 * another repository of the registry mounts it.
 */
import { EngineError, ErrorKind, invalidArgument, isKind } from '@ctl/proto/errors';
import { randomBytes } from 'node:crypto';
import { checkAborted, checkDescriptor, readBlob, selection } from '../archive/common';
import { recordImage } from '../archive/naming';
import { Walker, isSelected, pickManifests } from '../archive/walk';
import type { Content, Writer } from '../content/content';
import { bytesSource, writeBlob } from '../content/helpers';
import type { Images } from '../images/images';
import { type Descriptor, type Index, type Manifest, type Platform, isIndex, isManifest } from '../oci';
import { formatReference, parseNormalizedReference } from '@ctl/proto/reference';
import { traced } from '@ctl/proto/trace';
import { eachInParallel, linkedSignal } from './parallel';
import { Registry, type RegistryOptions } from './registry';
import { recordSource } from './source';
import type { Arrivals as UnpackArrivals } from '../unpack/unpacker';

export interface PullProgress {
  /**
   * resolved: the reference's manifest or index (message: its digest); fetching: bytes of a
   * blob so far (name = digest); fetched: a blob is in content (also one that was there);
   * image: the image record was made (name, message = digest), or a note (no manifest for the platform).
   */
  event: 'resolved' | 'fetching' | 'fetched' | 'image';
  name: string;
  current: number;
  total: number;
  message?: string;
}

export interface PullOptions {
  content: Content;
  images: Images;
  /** Held by every writer, so what is fetched stays until the caller's lease goes. */
  lease: string;
  /** Takes a blob the namespace already had into the lease, so the collector leaves it until the image holds it. */
  hold(digest: string): Promise<void>;
  platforms?: Platform[];
  allPlatforms?: boolean;
  registry?: Omit<RegistryOptions, 'signal'>;
  progress?: (event: PullProgress) => void;
  signal?: AbortSignal;
  /**
   * The unpack, run alongside the fetch of the layers: called once the configs are in content,
   * with the platform manifests the pull picked and the blobs' arrivals (unpacker.ts's Arrivals:
   * the file each blob is being written to, and when it is committed, its digest checked; both
   * reject once the fetch has failed). Awaited before the image record is made; a failure of
   * either side stops the other, and both have ended when pullImage returns or throws.
   */
  unpack?: (manifests: Descriptor[], arrivals: UnpackArrivals, signal: AbortSignal) => Promise<void>;
}

export interface PullResult {
  /** The image record's name: the normalised reference. */
  name: string;
  target: Descriptor;
  /** The platform manifests to unpack (as ImportedImage.manifests). */
  manifests: Descriptor[];
}

/** Blobs fetched at once: enough to fill a link, few enough not to hog a registry. */
const PARALLEL = 3;
/** A blob's download is reported at most this often ('fetched' says when it is in). */
const PROGRESS_EVERY_MS = 100;
/** Writes go to the content store about this many bytes at a time (one writev), not per network packet. */
const WRITE_CHUNK = 1 << 20;

export async function pullImage(reference: string, options: PullOptions): Promise<PullResult> {
  const { content, signal, progress = () => undefined } = options;
  const ref = parseNormalizedReference(reference);
  const name = formatReference(ref);
  const stop = new AbortController();
  const registry = new Registry(ref.domain, ref.path, 'pull', { ...options.registry, signal: linkedSignal(stop, signal) });
  // Where each blob came from, for a later push to another repository of the registry to mount it.
  const noteSource = (digest: string): Promise<void> => recordSource(content, digest, ref.domain, ref.path);
  const sel = selection(options);
  const pullId = randomBytes(6).toString('hex');

  const top = await registry.manifest(ref.digest ?? ref.tag!);
  const target: Descriptor = top.desc;
  progress({ event: 'resolved', name, current: 0, total: 0, message: target.digest });
  await storeBytes(content, target, top.data, `pull-${pullId}-${target.digest}`, options);
  await noteSource(target.digest);

  // The tree, fetched breadth-first: manifests one by one (small), then the configs, then the layers.
  const configs = new Map<string, Descriptor>();
  const layers = new Map<string, Descriptor>();
  const seen = new Set<string>();
  const visit = async (desc: Descriptor, data: Buffer, depth: number): Promise<void> => {
    checkAborted(signal);
    if (seen.has(desc.digest)) return;
    seen.add(desc.digest);
    if (depth > 8) throw invalidArgument(`image index ${desc.digest}: indexes nested more than 8 deep`);
    const json = parse(data, desc);
    if (isIndex(desc.mediaType)) {
      const index = json as Index;
      if (!Array.isArray(index.manifests)) throw invalidArgument(`image index ${desc.digest} has no manifests list`);
      for (const [i, entry] of index.manifests.entries()) {
        const child = checkDescriptor(entry, `entry ${i} of image index ${desc.digest}`);
        if ((!isIndex(child.mediaType) && !isManifest(child.mediaType)) || !isSelected(sel, child)) continue;
        const data = await manifestBytes(registry, child, `pull-${pullId}-${child.digest}`, options);
        await noteSource(child.digest);
        await visit(child, data, depth + 1);
      }
    } else if (isManifest(desc.mediaType)) {
      const manifest = json as Manifest;
      if (!manifest.config || !Array.isArray(manifest.layers)) throw invalidArgument(`manifest ${desc.digest} has no config or layers`);
      const config = checkDescriptor(manifest.config, `config of manifest ${desc.digest}`);
      configs.set(config.digest, config);
      for (const [i, layer] of manifest.layers.entries()) {
        const l = checkDescriptor(layer, `layer ${i} of manifest ${desc.digest}`);
        layers.set(l.digest, l);
      }
    }
  };
  await traced('pull.manifests', () => visit(target, top.data, 0));
  const arrivals = new Arrivals();
  const unpackSignal = linkedSignal(stop, signal);
  const fail = (error: unknown): never => {
    // The first failure is the one to report: what it stopped fails with cancellations after it.
    if (!stop.signal.aborted) stop.abort(error);
    arrivals.fail(stop.signal.reason);
    throw stop.signal.reason;
  };
  const fetchAll = (descs: Descriptor[]): Promise<void> =>
    eachInParallel(descs, PARALLEL, stop, async (desc) => {
      checkAborted(signal);
      await traced('pull.blob', () =>
        fetchBlob(registry, desc, `pull-${pullId}-${desc.digest}`, options, (path) => arrivals.noteWriting(desc.digest, path)),
      );
      arrivals.noteStored(desc.digest);
      await noteSource(desc.digest);
    });
  // The configs alone first, then the layers in order: once the configs are in, the unpack knows
  // its manifests and diff ids and follows the first layer while it downloads. Beside the layers'
  // streams a config's few small steps (open, commit) each wait for a busy event loop: the unpack
  // started 50 to 100 ms later.
  const fetching = traced('pull.blobs', async () => {
    await fetchAll([...configs.values()]);
    await fetchAll([...layers.values()].filter((l) => !configs.has(l.digest)));
  })
    .then(async () => {
      // Everything is in content: check it and label it as an import does.
      const found = await traced('pull.walk', () => new Walker(content, sel, signal).walk(target, 'image'));
      return pickManifests(found, sel);
    })
    .catch(fail);
  const unpacking = traced('pull.unpack', async () => {
    if (!options.unpack) return [];
    await Promise.all([...configs.keys()].map((digest) => arrivals.stored(digest)));
    const planned = pickManifests(await new Walker(content, sel, unpackSignal, true).walk(target, 'image'), sel);
    if (planned.length) await options.unpack(planned, arrivals, unpackSignal);
    return planned;
  }).catch(fail);
  const [fetched, unpacked] = await Promise.allSettled([fetching, unpacking]);
  if (fetched.status === 'rejected' || unpacked.status === 'rejected') throw stop.signal.reason;
  const manifests = fetched.value;
  const planned = unpacked.value;
  // The same walk as the plan's over the same bytes picks the same manifests; should it ever
  // not, the image still gets no name before each of its manifests is unpacked.
  const unplanned = manifests.filter((m) => !planned.some((p) => p.digest === m.digest));
  if (options.unpack && unplanned.length) await options.unpack(unplanned, everythingStored, unpackSignal);
  if (!manifests.length)
    progress({
      event: 'image',
      name,
      current: 0,
      total: 0,
      message: `no manifest for the selected platform(s) in ${name}; nothing to unpack`,
    });
  checkAborted(signal);
  await recordImage(options.images, name, target);
  progress({ event: 'image', name, current: 0, total: 0, message: target.digest });
  return { name, target, manifests };
}

/** For an unpack once the fetch is over: every blob is in content. */
const everythingStored: UnpackArrivals = { stored: () => Promise.resolve(), writing: () => Promise.resolve(undefined) };

/** Something that happens once, awaited before or after it does. */
class Once<T> {
  readonly promise: Promise<T>;
  settled = false;
  private settle!: { resolve(value: T): void; reject(error: unknown): void };

  constructor() {
    this.promise = new Promise<T>((resolve, reject) => (this.settle = { resolve, reject }));
    // Nobody may be waiting when the fetch fails: that rejection is no unhandled one.
    this.promise.catch(() => undefined);
  }

  resolve(value: T): void {
    this.settled = true;
    this.settle.resolve(value);
  }

  reject(error: unknown): void {
    this.settled = true;
    this.settle.reject(error);
  }
}

/**
 * The blobs of a pull as they arrive, for the unpack to wait on (unpacker.ts's Arrivals): the
 * fetch notes where each blob's bytes go and when it is committed; fail() rejects whatever is
 * still awaited, and whatever is asked after it.
 */
class Arrivals implements UnpackArrivals {
  private readonly blobs = new Map<string, { writing: Once<string | undefined>; stored: Once<void> }>();
  private failure: { error: unknown } | undefined;

  private entry(digest: string) {
    let entry = this.blobs.get(digest);
    if (!entry) {
      entry = { writing: new Once(), stored: new Once() };
      if (this.failure) {
        entry.writing.reject(this.failure.error);
        entry.stored.reject(this.failure.error);
      }
      this.blobs.set(digest, entry);
    }
    return entry;
  }

  stored(digest: string): Promise<void> {
    return this.entry(digest).stored.promise;
  }

  writing(digest: string): Promise<string | undefined> {
    const entry = this.entry(digest);
    // Committed: the file has moved into the store.
    return entry.stored.settled ? Promise.resolve(undefined) : entry.writing.promise;
  }

  /** The blob's bytes go to path (undefined: the blob was in content already). */
  noteWriting(digest: string, path: string | undefined): void {
    this.entry(digest).writing.resolve(path);
  }

  noteStored(digest: string): void {
    const entry = this.entry(digest);
    entry.writing.resolve(undefined);
    entry.stored.resolve();
  }

  fail(error: unknown): void {
    this.failure ??= { error };
    for (const entry of this.blobs.values()) {
      entry.writing.reject(error);
      entry.stored.reject(error);
    }
  }
}

function parse(data: Buffer, desc: Descriptor): unknown {
  try {
    return JSON.parse(data.toString('utf8'));
  } catch (err) {
    throw invalidArgument(`${desc.mediaType} ${desc.digest} is not valid JSON: ${(err as Error).message}`);
  }
}

/** A child manifest or index: the stored one when the namespace has it, else the registry's, stored. */
async function manifestBytes(registry: Registry, desc: Descriptor, ingest: string, options: PullOptions): Promise<Buffer> {
  try {
    const data = await readBlob(options.content, desc, 'manifest');
    await options.hold(desc.digest);
    return data;
  } catch (err) {
    if (!isKind(err, ErrorKind.NotFound)) throw err;
  }
  const { desc: got, data } = await registry.manifest(desc.digest);
  if (got.size !== desc.size)
    throw invalidArgument(`manifest ${desc.digest} from ${registry.host}: ${got.size} bytes, its descriptor says ${desc.size}`);
  await storeBytes(options.content, desc, data, ingest, options);
  return data;
}

/** Writes bytes already checked against desc.digest into content, and holds them in the lease (also when they were there). */
async function storeBytes(content: Content, desc: Descriptor, data: Buffer, ingest: string, options: PullOptions): Promise<void> {
  await writeBlob(content, ingest, bytesSource(data), { total: data.length, expected: desc.digest, lease: options.lease });
  await options.hold(desc.digest);
}

/**
 * Streams a blob from the registry into content, checking its size and digest before the commit;
 * writing(path) says where its bytes go once the writer is open (undefined: the blob is there already).
 */
async function fetchBlob(
  registry: Registry,
  desc: Descriptor,
  ingest: string,
  options: PullOptions,
  writing: (path: string | undefined) => void,
): Promise<void> {
  const { content, signal, progress = () => undefined } = options;
  let writer: Writer;
  try {
    writer = await traced('pull.blob.open', () =>
      content.writer(ingest, { total: desc.size, expected: desc.digest, lease: options.lease }),
    );
  } catch (err) {
    if (!isKind(err, ErrorKind.AlreadyExists)) throw err;
    await options.hold(desc.digest);
    writing(undefined);
    progress({ event: 'fetched', name: desc.digest, current: desc.size, total: desc.size, message: 'exists' });
    return;
  }
  writing(writer.dataPath);
  const what = `blob ${desc.digest} from ${registry.host}/${registry.repository}`;
  let committed = false;
  try {
    const { body, size } = await registry.blob(desc);
    if (size !== undefined && size !== desc.size)
      throw invalidArgument(`${what}: the registry sends ${size} bytes, the descriptor says ${desc.size}`);
    let written = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let reported = 0;
    const flush = async (): Promise<void> => {
      if (!pendingBytes) return;
      const chunks = pending;
      pending = [];
      pendingBytes = 0;
      written = await writer.write(chunks);
      // A progress line needs a few updates a second; one per MiB was a gRPC message each on
      // the event loop that also reads the blob (6% of its time on a local registry).
      if (Date.now() - reported >= PROGRESS_EVERY_MS) {
        reported = Date.now();
        progress({ event: 'fetching', name: desc.digest, current: written, total: desc.size });
      }
    };
    for await (const chunk of body) {
      checkAborted(signal);
      if (written + pendingBytes + chunk.length > desc.size)
        throw invalidArgument(`${what}: the registry sends more than the ${desc.size} bytes its descriptor says`);
      pending.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
      pendingBytes += chunk.length;
      if (pendingBytes >= WRITE_CHUNK) await flush();
    }
    await flush();
    if (written !== desc.size) throw invalidArgument(`${what}: got ${written} bytes, the descriptor says ${desc.size} (connection cut?)`);
    const digest = await writer.digest();
    if (digest !== desc.digest) throw invalidArgument(`${what}: the bytes the registry sent have digest ${digest}; refused`);
    try {
      await traced('pull.blob.commit', () => writer.commit(desc.size, desc.digest));
    } catch (err) {
      if (!isKind(err, ErrorKind.AlreadyExists)) throw err;
      await options.hold(desc.digest);
    }
    committed = true;
    progress({ event: 'fetched', name: desc.digest, current: desc.size, total: desc.size });
  } catch (err) {
    if (err instanceof EngineError) throw err;
    throw new EngineError(ErrorKind.Unavailable, `${what}: ${(err as Error).message}`, { cause: err });
  } finally {
    if (!committed) await writer.abort().catch(() => undefined);
  }
}
