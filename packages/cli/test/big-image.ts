/** Test images with one big layer, for tests that need an import or an unpack to take a while or a lot of space. */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Writes an OCI archive (dir/big.tar) of one image whose one uncompressed layer is a file of `mib` MiB of random bytes. */
export function bigImage(dir: string, name: string, mib: number): string {
  const layout = join(dir, 'layout');
  const blobs = join(layout, 'blobs', 'sha256');
  mkdirSync(join(dir, 'rootfs'), { recursive: true });
  mkdirSync(blobs, { recursive: true });
  execFileSync('sh', ['-c', `head -c ${mib << 20} /dev/urandom > ${join(dir, 'rootfs', 'big')}`]);
  const layerTar = join(dir, 'layer.tar');
  execFileSync('tar', ['-C', join(dir, 'rootfs'), '--owner=0', '--group=0', '--numeric-owner', '-cf', layerTar, 'big']);
  const layerHex = execFileSync('sha256sum', [layerTar], { encoding: 'utf8' }).split(' ')[0]!;
  const layerSize = Number(execFileSync('stat', ['-c', '%s', layerTar], { encoding: 'utf8' }).trim());
  renameSync(layerTar, join(blobs, layerHex));
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
    rootfs: { type: 'layers', diff_ids: [`sha256:${layerHex}`] },
  });
  const manifest = put({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${layerHex}`, size: layerSize }],
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
  const archive = join(dir, 'big.tar');
  execFileSync('tar', ['-C', layout, '-cf', archive, 'oci-layout', 'index.json', 'blobs']);
  execFileSync('rm', ['-rf', layout, join(dir, 'rootfs')]);
  return archive;
}
