/**
 * The walk of an image whose blobs are in content: every index and manifest checked, GC labels set
 * on the parents, the selected platforms' manifests found (see import.ts). Import and pull both end with it.
 */
import { invalidArgument } from '@ctl/proto/errors';
import type { Content } from '../content/content';
import {
  type Descriptor,
  type ImageConfig,
  type Index,
  Label,
  type Manifest,
  isConfig,
  isIndex,
  isManifest,
  layerCompression,
} from '../oci';
import { only } from '@ctl/proto/platforms';
import { type Selection, checkAborted, checkBlob, checkDescriptor, readJson } from './common';

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

export async function setLabels(content: Content, digest: string, labels: Record<string, string>): Promise<void> {
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

  /**
   * With configsOnly, the walk needs only the indexes, manifests and configs in content, checks
   * no layer and sets no label: what a pull knows, and must agree with the full walk on, before
   * its layers arrive (the manifests it unpacks while they do).
   */
  constructor(
    private readonly content: Content,
    private readonly sel: Selection,
    private readonly signal: AbortSignal | undefined,
    private readonly configsOnly = false,
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
    if (this.configsOnly) return found;
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
    if (!this.configsOnly)
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
    if (!this.configsOnly)
      await setLabels(this.content, desc.digest, {
        [`${Label.gcRefContent}config`]: config.digest,
        ...Object.fromEntries(layers.map((l, i) => [`${Label.gcRefContent}l.${i}`, l.digest])),
      });
    const { annotations: _annotations, ...plain } = desc;
    return platform ? { ...plain, platform } : plain;
  }
}
