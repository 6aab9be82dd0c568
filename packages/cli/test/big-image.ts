/**
 * Test images of random bytes: one big layer, for tests that need an import or an unpack to take a while or a lot of
 * space; or several layers.
 */
import { ociLayout } from '@ctl/proto/testing';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
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
  const layout = ociLayout(join(dir, 'layout'));
  const layers = files.map(({ file, bytes }) => {
    const rootfs = join(dir, 'rootfs');
    mkdirSync(rootfs, { recursive: true });
    execFileSync('sh', ['-c', `head -c ${bytes} /dev/urandom > ${join(rootfs, file)}`]);
    const layerTar = join(dir, 'layer.tar');
    execFileSync('tar', ['-C', rootfs, '--owner=0', '--group=0', '--numeric-owner', '-cf', layerTar, file]);
    execFileSync('rm', ['-rf', rootfs]);
    return { mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layout.putFile(layerTar) };
  });
  layout.finish({ layers, diffIds: layers.map((l) => l.digest), name, cmd: ['sh'] });
  return layout.archive(join(dir, archiveName));
}
