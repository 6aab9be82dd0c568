/** From what the pass over the tar found to a top-level index in content: an OCI layout's index.json, or one made for a docker save. */
import { ErrorKind, invalidArgument, isKind, notFound } from '@ctl/proto/errors';
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import type { Content, Writer } from '../content/content';
import {
  Annotation,
  type Descriptor,
  type ImageConfig,
  type Index,
  type Manifest,
  MediaType,
  type Platform,
  isIndex,
  sha256,
} from '../oci';
import { normalizeReference, parseNormalizedReference } from '@ctl/proto/reference';
import { GZIP_MAGIC, type Scan, type WriteContext, ZSTD_MAGIC, parseSmall, resolvePath } from './scan';

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

export async function ociIndex(scan: Scan, ctx: WriteContext): Promise<Descriptor> {
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

export async function dockerIndex(scan: Scan, ctx: WriteContext): Promise<Descriptor> {
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
