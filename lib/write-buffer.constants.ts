/**
 * Name of the periodic flush job. When `ScheduleModule.forRoot()` is
 * imported, the job is registered in its `SchedulerRegistry` under this
 * name, so `schedulerRegistry.getCronJob(WRITE_BUFFER_FLUSH_JOB)` can stop,
 * start or inspect it.
 */
export const WRITE_BUFFER_FLUSH_JOB = 'write-buffer:flush';

/** Metadata key of `@BufferedCounter()`. */
export const BUFFERED_COUNTER_METADATA = 'write_buffer:buffered_counter';

export const DEFAULT_FLUSH_CRON = '*/5 * * * * *';
export const DEFAULT_MAX_PENDING = 10_000;
export const DEFAULT_MAX_BATCH_ROWS = 10_000;
export const DEFAULT_LEDGER_TABLE = 'write_buffer_ledger';
export const DEFAULT_LEDGER_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;
export const DEFAULT_LEASE_TTL_MS = 30_000;
export const DEFAULT_RETRY_BASE_DELAY_MS = 1_000;
export const DEFAULT_RETRY_MAX_DELAY_MS = 60_000;
export const DEFAULT_MAX_PENDING_ENTRIES = 1_000_000;
export const DEFAULT_LIMIT_WAIT_MS = 5_000;
export const DEFAULT_MAX_DEAD_LETTERS = 10_000;
/** Under `docker stop`'s 10 s grace (and Kubernetes' 30 s), with time left to close connections. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 8_000;
