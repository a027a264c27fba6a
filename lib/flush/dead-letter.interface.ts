import type { ColumnMerges, RowKey, StoredRow } from '../storage/buffer-batch.interface.js';

/**
 * A buffered write the database refused for a reason retrying cannot fix
 * (or whose row did not exist), set aside so the rest could be applied.
 * @publicApi
 */
export interface DeadLetter {
  /** Stable id: the same failure found again after a crash gets the same id. */
  id: string;
  dataSource: string;
  /** Table path. */
  table: string;
  /** Entity name. */
  entity: string;
  /** Primary column values by property name (when `rowKey` is set). */
  key?: Record<string, unknown>;
  /**
   * Encoded row key (counters, updates, and inserts naming their whole
   * primary key), used by `retryDeadLetters`.
   */
  rowKey?: RowKey;
  /**
   * Place of the write among the letters of its flush: `retryDeadLetters`
   * buffers letters again in the order of `at`, then `seq`, so an update
   * and the increments that came after it keep their order.
   */
  seq: string;
  kind: 'insert' | 'update' | 'counter';
  /** The row to insert, the values to set, or the deltas to add. */
  payload: StoredRow;
  /**
   * How an update's columns the entity merges with max/min merge when the
   * letter is buffered again (`BufferStorage.update`'s `merges`), so a
   * retried letter never replaces a pending value past it.
   */
  merges?: ColumnMerges;
  /** Why it failed. */
  error: string;
  at: Date;
}

/** Orders dead letters as their writes arrived: by `at`, then `seq`. */
export function byArrival(a: DeadLetter, b: DeadLetter): number {
  return a.at.getTime() - b.at.getTime() || (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0);
}
