/**
 * @ctl/proto: the contracts and the helpers that speak them. This entry point loads nothing
 * heavy; grpc-js, the descriptor and winston load only when a server or logger is made.
 */
export * from './errors';
export * from './status';
export * from './namespace';
export * from './labels';
export * from './paths';
export { ensureDir } from './fsutil';
export { type Contracts, loadContracts, loaderOptions, serviceDefinition } from './contracts';
export {
  type BatchIterator,
  type Database,
  type Migration,
  type SchemaDefinition,
  SCHEMA_VERSION_KEY,
  inBatches,
  openDatabase,
  readRecord,
  schemaVersion,
} from './db';
export { isNoSpace } from './db-reserve';
export { type Logger, type LogLevel, LOG_LEVELS, createLogger, childLogger } from './logger';
export * from './server';
export { type ServiceBinary, runServiceBinary, parseLogLevel } from './service-main';
export { type WireMethod, type WireType, type CallOptions, WireClient, wireMethod, wireType } from './wire';
