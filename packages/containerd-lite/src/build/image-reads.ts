/**
 * Image manifests and configs read from content, remembered by the manifest's digest: a build
 * reads the state of every step it takes from the cache, and a rebuild reads the same ones again.
 * Content is addressed by digest, so what was read stays true; each caller gets its own copy.
 */
import type { Content } from '../content/content';
import type { Descriptor, ImageConfig, Manifest } from '../oci';
import { readImage } from '../unpack/unpacker';

export interface ReadImage {
  manifest: Manifest;
  config: ImageConfig;
}

/** The images remembered (configs of a few KB each). */
const REMEMBERED = 512;

export class ImageReads {
  private readonly read = new Map<string, ReadImage>();

  /** readImage of the manifest, from memory when it was read before (and its blob is still in content). */
  async get(content: Content, manifest: Descriptor): Promise<ReadImage> {
    let image = this.read.get(manifest.digest);
    if (image) {
      // Present in this namespace: the memory is the daemon's, the content a namespace's.
      await content.info(manifest.digest);
      this.read.delete(manifest.digest);
    } else image = await readImage(content, manifest);
    this.read.set(manifest.digest, image);
    if (this.read.size > REMEMBERED) this.read.delete(this.read.keys().next().value!);
    return structuredClone(image);
  }
}
