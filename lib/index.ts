export { BufferService } from './buffer.service.js';
export type { BufferStats } from './buffer-stats.interface.js';
export type { BufferedValue } from './buffer-reader.js';
export {
  BufferedCounter,
  type BufferedCounterOptions,
  type BufferedCounterMetadata,
} from './decorators/buffered-counter.decorator.js';
export {
  WriteBufferError,
  UnknownEntityError,
  UnknownColumnError,
  UnsuitableColumnError,
  InvalidIdError,
  InvalidValueError,
  WriteBufferConfigError,
  FlushError,
  RedisUnavailableError,
  BufferFullError,
  LeaseLostError,
  InconsistentReadError,
} from './errors.js';
export type { FlushReport, MissingRow, LastFlush } from './flush/flush-report.interface.js';
export type { DeadLetter } from './flush/dead-letter.interface.js';
export { BufferedCounterInterceptor } from './interceptors/buffered-counter.interceptor.js';
export {
  BufferStorage,
  type ClaimOptions,
  type DiscardResult,
  type PendingTableEntries,
} from './storage/buffer-storage.interface.js';
export type {
  BatchTable,
  BufferTarget,
  CellLayer,
  CellSnapshot,
  CellsSnapshot,
  ClaimedBatch,
  FlushLease,
  RowKey,
  StorageStats,
  StoredRow,
  StoredValue,
  ColumnMerge,
  ColumnMerges,
} from './storage/buffer-batch.interface.js';
export {
  WriteBufferEvent,
  type FlushCompletedEvent,
  type FlushFailedEvent,
  type FlushRecoveredEvent,
  type DeadLetterEvent,
  type BufferFullEvent,
  type RecoveredEvent,
} from './telemetry/write-buffer.events.js';
export { MemoryStorage } from './storage/memory.storage.js';
export type * from './write-buffer-options.interface.js';
export {
  WRITE_BUFFER_MODULE_OPTIONS,
  type WriteBufferModuleAsyncOptions,
  type WriteBufferOptionsFactory,
} from './write-buffer.module-definition.js';
export { WriteBufferModule } from './write-buffer.module.js';
export { WRITE_BUFFER_FLUSH_JOB, BUFFERED_COUNTER_METADATA } from './write-buffer.constants.js';
