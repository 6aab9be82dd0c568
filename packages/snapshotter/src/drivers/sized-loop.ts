/** SizedLayers on loop-mounted image files (src/quota), the image beside the layer's dir. */
import { existsSync } from 'node:fs';
import { createSizedDir, remountSizedDir, removeSizedDir } from '../quota';
import type { SizedLayers } from './sized';

export function loopSizedLayers(): SizedLayers {
  return {
    create: (dir, bytes) => createSizedDir(dir, `${dir}.img`, bytes),
    remove: (dir) => removeSizedDir(dir, `${dir}.img`),
    restore: async (dir) => {
      if (existsSync(`${dir}.img`)) await remountSizedDir(dir, `${dir}.img`);
    },
  };
}
