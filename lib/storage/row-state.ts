import type { ColumnMerge, ColumnMerges, StoredRow } from './buffer-batch.interface.js';
import { countColumns } from './count-columns.js';

/** Pending or claimed state of one row: columns set, then deltas on top. */
export interface RowState {
  set?: StoredRow;
  deltas?: Record<string, number>;
  /** Ranks of the merged columns' values in `set` (see `ColumnMerge`). */
  ranks?: Record<string, number | null>;
}

/** Adds `delta` to the row's counter of `column`; resolves 1 when that opened a new counter. */
export function addDelta(row: RowState, column: string, delta: number): number {
  const deltas = (row.deltas ??= {});
  if (deltas[column] === undefined) {
    deltas[column] = delta;
    return 1;
  }
  deltas[column] += delta;
  return 0;
}

/** What {@link setColumns} changed in the counts of pending updates and counters. */
export interface SetChange {
  /** 1 when the row had no pending update before. */
  updates: number;
  /** Counters the set dropped (a negative count). */
  counters: number;
}

/**
 * Sets columns of a row. A new update drops the deltas counted before it;
 * a dead letter buffered again (`keepDeltas`) does not, since every delta
 * pending now arrived after it.
 */
export function setColumns(
  row: RowState,
  values: StoredRow,
  keepDeltas = false,
  merges?: ColumnMerges,
): SetChange {
  const change = { updates: 0, counters: 0 };
  if (!row.set) {
    row.set = {};
    change.updates = 1;
  }
  for (const column of Object.keys(values)) {
    const merge = merges?.[column];
    if (merge) {
      const held = column in row.set ? row.ranks?.[column] : undefined;
      if (column in row.set && !mergeWins(merge, held)) continue;
      (row.ranks ??= {})[column] = merge.rank;
    } else if (row.ranks) {
      // A value set without a rank (a dead letter buffered again) is unranked.
      delete row.ranks[column];
    }
    row.set[column] = values[column];
    if (!keepDeltas && row.deltas && row.deltas[column] !== undefined) {
      // The set overrides what was counted before it.
      delete row.deltas[column];
      change.counters--;
    }
  }
  return change;
}

/** Counters a row holds. */
export function countersOf(row: RowState): number {
  return row.deltas ? countColumns(row.deltas) : 0;
}

/**
 * Whether a merged value replaces the pending one, whose rank is `held`
 * (`undefined`: unknown, as for a dead letter buffered again). `NULL`
 * never replaces a value.
 */
export function mergeWins(merge: ColumnMerge, held: number | null | undefined): boolean {
  if (merge.rank === null) return false;
  if (held === null || held === undefined) return true;
  return merge.rule === 'max' ? merge.rank > held : merge.rank < held;
}
