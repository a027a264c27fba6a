import type { LastFlush } from './flush/flush-report.interface.js';

/**
 * A snapshot of the buffer, from `BufferService.stats()`.
 * @publicApi
 */
export interface BufferStats {
  /** Entries waiting for a flush. */
  pending: {
    /** (row, column) counters with a delta. */
    counters: number;
    /** Rows with columns to set. */
    updates: number;
    /** Rows to insert. */
    inserts: number;
  };
  /** Claimed batches not yet acknowledged (being applied, or left by a failed flush). */
  inFlightBatches: number;
  /** Journal entries and bytes in use (memory storage with a journal). */
  journal?: { entries: number; bytes: number };
  /** Counters and updates dropped so far because their row did not exist. */
  missingRows: number;
  /** Dead letters waiting for `retryDeadLetters` or `discardDeadLetters`. */
  deadLetters: number;
  /** Dead letters dropped since start because `limits.maxDeadLetters` were held (memory: this process; Redis: all instances). */
  deadLettersDropped: number;
  /** Current delay of scheduled flushes after transient failures, in milliseconds (0 when healthy). */
  backoffMs: number;
  /** Flushes that failed in a row; 0 after a success. */
  consecutiveFailures: number;
  /**
   * Age of the oldest write not yet applied (pending or in flight), in
   * milliseconds; absent when nothing is buffered or the storage does not
   * track it (`BufferStorage.oldestPending`).
   */
  oldestPendingAgeMs?: number;
  /**
   * Entries held (pending and in flight) over `limits.maxPendingEntries`,
   * as the limit counts them (Redis: this process's).
   */
  fillRatio: number;
  /** Whether a flush of this process holds a flush lease right now. */
  flushing: boolean;
  /** The latest flush, if any ran in this process. */
  lastFlush?: LastFlush;
}
