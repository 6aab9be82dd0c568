import type { DriverRegistration } from '../driver';
import { btrfsUnsupported, openBtrfsDriver } from './btrfs';

/** snapshotter/btrfs: subvolumes and snapshots; needs its root on btrfs and btrfs-progs. */
export const btrfsDriver: DriverRegistration = {
  name: 'btrfs',
  unsupported: ({ root }) => btrfsUnsupported(root),
  open: ({ root }) => openBtrfsDriver(root),
};
