/**
 * Disk-space limits for writable layers on file systems without project quotas: sized
 * directories (a loop-mounted ext4 image per directory) and the size syntax of the size-limit label.
 */
export {
  MIN_SIZED_DIR_BYTES,
  type SizedDirInfo,
  createSizedDir,
  removeSizedDir,
  remountSizedDir,
  sizedDirMount,
  temporaryImageOf,
} from './sized-dir';
export { formatSize, parseSize } from './size';
