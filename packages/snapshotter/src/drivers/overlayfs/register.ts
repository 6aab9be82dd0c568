import { statfs } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import type { DriverRegistration } from '../driver';
import { loopSizedLayers } from '../sized-loop';
import { OverlayDriver } from './overlayfs';

// Overlay cannot use these as its upper layer's file system.
const UNSUITABLE_UPPER = new Map([
  [0x794c7630, 'overlayfs'],
  [0x6969, 'nfs'],
]);

export const overlayfsDriver: DriverRegistration = {
  name: 'overlayfs',
  async unsupported({ root }) {
    if (
      !readFileSync('/proc/filesystems', 'utf8')
        .split('\n')
        .some((l) => l.trim().endsWith('overlay'))
    ) {
      return 'the kernel does not offer overlay (no "overlay" in /proc/filesystems)';
    }
    const fsType = (await statfs(root)).type;
    const name = UNSUITABLE_UPPER.get(fsType);
    return name ? `${root} is on ${name}, which overlay cannot use for its layers` : undefined;
  },
  async open({ root }) {
    return new OverlayDriver(root, loopSizedLayers());
  },
};
