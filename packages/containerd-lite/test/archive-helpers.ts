/** Fixtures for the archive tests: a real content store in a temp dir, in-memory images, tar builders. */
import { type Database, openDatabase } from '@ctl/proto';
import { type TempInstance, tempInstance } from '@ctl/proto/testing';
import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import type { Content } from '../src/content/content';
import { ContentStore } from '../src/content/store';
import { SCHEMA } from '../src/layout';
import { type Descriptor, Annotation, MediaType, chainIds, sha256 } from '../src/oci';
import { gzipSync } from 'node:zlib';
import { MemoryImages } from './memory-images';

export const REPO_ROOT = join(__dirname, '..', '..', '..', '..');

export interface Fixture {
  tmp: TempInstance;
  dir: string;
  db: Database;
  content: Content;
  images: MemoryImages;
  teardown(): Promise<void>;
}

export async function fixture(): Promise<Fixture> {
  const tmp = tempInstance('ctl-archive-');
  try {
    const dir = join(tmp.base, 'files');
    mkdirSync(dir, { recursive: true });
    const db = await openDatabase(join(tmp.root, 'meta'), SCHEMA);
    const store = await ContentStore.open(db, join(tmp.root, 'content'));
    return {
      tmp,
      dir,
      db,
      content: store.namespace('default'),
      images: new MemoryImages(),
      teardown: async () => {
        await db.close().catch(() => undefined);
        tmp.remove();
      },
    };
  } catch (err) {
    tmp.remove();
    throw err;
  }
}

export interface TarEntry {
  name: string;
  data?: Buffer | string;
  type?: 'file' | 'symlink' | 'link' | 'directory';
  linkname?: string;
}

export function tarStream(entries: TarEntry[]): Readable {
  const pack = tar.pack();
  (async () => {
    for (const e of entries) {
      await new Promise<void>((resolve, reject) => {
        const type = e.type ?? 'file';
        const done = (err?: Error | null) => (err ? reject(err) : resolve());
        if (type === 'file') pack.entry({ name: e.name, type, mode: 0o644, mtime: new Date(0) }, Buffer.from(e.data ?? ''), done);
        else pack.entry({ name: e.name, type, linkname: e.linkname, mode: 0o755, mtime: new Date(0) }, done);
      });
    }
    pack.finalize();
  })().catch((err) => pack.destroy(err));
  return Readable.from(pack as AsyncIterable<Buffer>);
}

export async function writeTar(path: string, entries: TarEntry[]): Promise<string> {
  await pipeline(tarStream(entries), createWriteStream(path));
  return path;
}

export function blob(
  mediaType: string,
  data: Buffer | string | object,
  extra: Partial<Descriptor> = {},
): { desc: Descriptor; data: Buffer } {
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(typeof data === 'string' ? data : JSON.stringify(data));
  return { desc: { mediaType, digest: sha256(bytes), size: bytes.length, ...extra }, data: bytes };
}

export const blobEntry = (b: { desc: Descriptor; data: Buffer }): TarEntry => ({
  name: `blobs/sha256/${b.desc.digest.slice(7)}`,
  data: b.data,
});

export const OCI_LAYOUT: TarEntry = { name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' };

/** A small single-platform image: a layer (plain bytes; the importer does not untar), its config and manifest. */
export function image(arch: string, layerText: string, layerType: string = MediaType.ociLayer) {
  const layer = blob(layerType, Buffer.from(layerText));
  const config = blob(MediaType.ociConfig, { architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(layerText)] } });
  const manifest = blob(MediaType.ociManifest, {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: config.desc,
    layers: [layer.desc],
  });
  return { layer, config, manifest, blobs: [layer, config, manifest] };
}

export function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function skopeoInspect(transport: string): { Digest: string; Layers: string[]; RepoTags?: string[]; Architecture: string } {
  return JSON.parse(sh('skopeo', ['inspect', transport]));
}

export function skopeoConfig(transport: string): { rootfs: { diff_ids: string[] }; architecture: string } {
  return JSON.parse(sh('skopeo', ['inspect', '--config', transport]));
}

/** Builds the busybox OCI archive with tools/busybox-image.sh; returns its manifest digest. */
export function busyboxArchive(out: string, name?: string): string {
  const line = sh('bash', [join(REPO_ROOT, 'tools', 'busybox-image.sh'), out, ...(name ? [name] : [])]);
  return /sha256:[a-f0-9]{64}/.exec(line)![0];
}

/** The busybox archive (tools/busybox-image.sh), built once for a test file and removed after it. */
export function sharedBusybox(prefix: string): { readonly path: string; readonly digest: string } {
  const shared = tempInstance(prefix);
  const state = { path: join(shared.base, 'busybox.tar'), digest: '' };
  before(function () {
    this.timeout(60_000);
    state.digest = busyboxArchive(state.path);
  });
  after(() => shared.remove());
  return state;
}

export interface BuiltImage {
  name: string;
  diffIds: string[];
  chain: string[];
}

/** An OCI archive of one image whose layers are the given tars (gzip-compressed unless plain). */
export async function ociArchive(
  path: string,
  name: string,
  layers: Buffer[],
  options: { plain?: boolean; diffIds?: string[] } = {},
): Promise<BuiltImage> {
  const diffIds = options.diffIds ?? layers.map((l) => sha256(l));
  const layerBlobs = layers.map((l) => (options.plain ? blob(MediaType.ociLayer, l) : blob(MediaType.ociLayerGzip, gzipSync(l))));
  const config = blob(MediaType.ociConfig, {
    architecture: hostArch(),
    os: 'linux',
    config: { Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: diffIds },
  });
  const manifest = blob(MediaType.ociManifest, {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: config.desc,
    layers: layerBlobs.map((b) => b.desc),
  });
  const index = { schemaVersion: 2, manifests: [{ ...manifest.desc, annotations: { [Annotation.imageName]: name } }] };
  await writeTar(path, [
    OCI_LAYOUT,
    ...[...layerBlobs, config, manifest].map(blobEntry),
    { name: 'index.json', data: JSON.stringify(index) },
  ]);
  return { name, diffIds, chain: chainIds(diffIds) };
}

function hostArch(): string {
  return ({ x64: 'amd64', arm64: 'arm64', ia32: '386' } as Record<string, string>)[process.arch] ?? process.arch;
}
