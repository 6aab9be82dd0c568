// An OCI image layout that a bench fills with layers of its own: blobs by digest, then the
// config, manifest and index that make it one image of this host's platform.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const sha256 = (data) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** A new layout at `layout`: put(bytes) stores a blob, finish() writes the image around the layers. */
export function ociLayout(layout) {
  mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
  const put = (data) => {
    const digest = sha256(data);
    writeFileSync(join(layout, 'blobs', 'sha256', digest.slice(7)), data);
    return { digest, size: data.length };
  };
  return {
    put,
    /** layers: their descriptors (mediaType, digest, size), diffIds: their uncompressed digests, in order. */
    finish({ layers, diffIds, name }) {
      const arch = { x64: 'amd64', arm64: 'arm64' }[process.arch] ?? process.arch;
      const json = (value) => put(Buffer.from(JSON.stringify(value)));
      const config = json({ architecture: arch, os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: diffIds } });
      const manifest = json({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers,
      });
      writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
      writeFileSync(
        join(layout, 'index.json'),
        JSON.stringify({
          schemaVersion: 2,
          manifests: [
            {
              mediaType: 'application/vnd.oci.image.manifest.v1+json',
              ...manifest,
              annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': 'latest' },
            },
          ],
        }),
      );
    },
  };
}
