/** Image archives: import (oci-archive, docker-archive) into content and image records, and export. */
export { type ImportOptions, type ImportResult, type ImportedImage, importArchive } from './import';
export { type ExportOptions, type ExportResult, exportArchive } from './export';
export type { Progress, ProgressEvent } from './common';
