import type { RowKey, StoredRow } from '../storage/buffer-batch.interface.js';

/**
 * A buffered write the database refused for a reason retrying cannot fix
 * (or whose row did not exist), set aside so the rest could be applied.
 */
export interface DeadLetter {
  /** Stable id: the same failure found again after a crash gets the same id. */
  id: string;
  dataSource: string;
  /** Table path. */
  table: string;
  /** Entity name. */
  entity: string;
  /** Primary column values by property name (counters and updates). */
  key?: Record<string, unknown>;
  /** Encoded row key (counters and updates), used by `retryDeadLetters`. */
  rowKey?: RowKey;
  kind: 'insert' | 'update' | 'counter';
  /** The row to insert, the values to set, or the deltas to add. */
  payload: StoredRow;
  /** Why it failed. */
  error: string;
  at: Date;
}
