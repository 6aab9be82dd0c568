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
 * Then the walk, before any image record is touched (and the caller's beforeNaming, the unpack): top-level index → each entry (index or
 * manifest) → nested indexes → manifests → config and layers, all checked to be present with
 * their descriptor sizes; GC labels are set on the parents (index `gc.ref.content.m.<i>`, i
 * the child's position in the index; manifest `gc.ref.content.config` and
 * `gc.ref.content.l.<i>`). Labels are only added, never removed, so a later import for other
 * platforms widens what is kept. Inside an image index only the
 * manifests of the selected platforms are labelled and checked (so the others can be
 * collected); each top-level entry is an image the archive names and is kept whole, whatever
 * its platform.
 *
 * Naming (per top-level entry, in order; the last entry of a name wins; every name normalised, as
 * the commands normalise what they are given, and an entry whose name is no reference is skipped):
 *   1. `io.containerd.image.name` (rt/x:1 → docker.io/rt/x:1; containerd's ctr keeps it verbatim);
 *   2. else `org.opencontainers.image.ref.name`: when it is a full reference (has "/", ":" or
 *      "@" and parses), normalised (busybox:1 → docker.io/library/busybox:1); otherwise a tag,
 *      named `<baseName>:<ref.name>` (skipped with a message when there is no baseName);
 *   3. else `<baseName>@<digest>` with a baseName, otherwise skipped with a progress message.
 * docker-archive RepoTags are normalised the same way (busybox:latest → docker.io/library/busybox:latest).
 * Unlike ctr, a baseName does not filter out full ref.names outside it, and there is no
 * `import-<date>` default prefix.
 */
import { invalidArgument } from '@ctl/proto/errors';
import type { Content } from '../content/content';
import type { Images } from '../images/images';
import { type Descriptor, type Index, Label, type Platform } from '../oci';
import { type Progress, checkAborted, checkDescriptor, readJson, selection } from './common';
import { dockerIndex, ociIndex } from './layouts';
import { imageName, recordImage } from './naming';
import { readArchive } from './scan';
import { Walker, pickManifests, setLabels } from './walk';

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
  /**
   * Runs after the walk and before any image record is made, with the manifests to unpack: the
   * unpack, so that an image is named only once every layer is unpacked and verified, and a
   * failure here leaves no name (only what the lease holds, for the collector once it goes).
   */
  beforeNaming?: (manifests: Descriptor[]) => Promise<void>;
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

  const manifests = new Map<string, Descriptor>();
  for (const image of images) for (const m of image.manifests) if (!manifests.has(m.digest)) manifests.set(m.digest, m);
  await options.beforeNaming?.([...manifests.values()]);
  for (const image of images) {
    checkAborted(signal);
    await recordImage(options.images, image.name, image.target);
    progress({ event: 'image', name: image.name, current: 0, total: 0, message: `${image.name}: ${image.target.digest}` });
  }
  return { index, images, manifests: [...manifests.values()] };
}
