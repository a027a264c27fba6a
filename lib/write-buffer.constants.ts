/**
 * Name of the periodic flush job. When `ScheduleModule.forRoot()` is
 * imported, the job is registered in its `SchedulerRegistry` under this
 * name, so `schedulerRegistry.getCronJob(WRITE_BUFFER_FLUSH_JOB)` can stop,
 * start or inspect it.
 * @publicApi
 */
export const WRITE_BUFFER_FLUSH_JOB = 'write-buffer:flush';

/**
 * Metadata key of `@BufferedCounter()`.
 * @publicApi
 */
export const BUFFERED_COUNTER_METADATA = 'write_buffer:buffered_counter';
