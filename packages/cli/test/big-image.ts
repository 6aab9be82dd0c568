/**
 * Test images of random bytes: one big layer, for tests that need an import or an unpack to take a while or a lot of
 * space; or several layers.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Writes an OCI archive (dir/big.tar) of one image whose one uncompressed layer is a file of `mib` MiB of random bytes. */
export function bigImage(dir: string, name: string, mib: number): string {
  return randomImage(dir, name, [{ file: 'big', bytes: mib << 20 }], 'big.tar');
}

/** Writes an OCI archive (dir/layered.tar) of one image with a layer per size, each a file of that many random bytes. */
export function layeredImage(dir: string, name: string, sizes: number[]): string {
  return randomImage(
    dir,
    name,
    sizes.map((bytes, i) => ({ file: `layer${i}`, bytes })),
    'layered.tar',
  );
}

function randomImage(dir: string, name: string, files: { file: string; bytes: number }[], archiveName: string): string {
  const layout = join(dir, 'layout');
  const blobs = join(layout, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const layers = files.map(({ file, bytes }) => {
    const rootfs = join(dir, 'rootfs');
    mkdirSync(rootfs, { recursive: true });
    execFileSync('sh', ['-c', `head -c ${bytes} /dev/urandom > ${join(rootfs, file)}`]);
    const layerTar = join(dir, 'layer.tar');
    execFileSync('tar', ['-C', rootfs, '--owner=0', '--group=0', '--numeric-owner', '-cf', layerTar, file]);
    execFileSync('rm', ['-rf', rootfs]);
    const hex = execFileSync('sha256sum', [layerTar], { encoding: 'utf8' }).split(' ')[0]!;
    const size = Number(execFileSync('stat', ['-c', '%s', layerTar], { encoding: 'utf8' }).trim());
    renameSync(layerTar, join(blobs, hex));
    return { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${hex}`, size };
  });
  const put = (json: object): { digest: string; size: number } => {
    const bytes = Buffer.from(JSON.stringify(json));
    const hex = createHash('sha256').update(bytes).digest('hex');
    writeFileSync(join(blobs, hex), bytes);
    return { digest: `sha256:${hex}`, size: bytes.length };
  };
  const config = put({
    architecture: 'amd64',
    os: 'linux',
    config: { Cmd: ['sh'] },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
  });
  const manifest = put({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers,
  });
  writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const platform = { architecture: process.arch === 'arm64' ? 'arm64' : 'amd64', os: 'linux' };
  writeFileSync(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          platform,
          annotations: { 'io.containerd.image.name': name },
        },
      ],
    }),
  );
  const archive = join(dir, archiveName);
  execFileSync('tar', ['-C', layout, '-cf', archive, 'oci-layout', 'index.json', 'blobs']);
  execFileSync('rm', ['-rf', layout]);
  return archive;
}
