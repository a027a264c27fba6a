import type { BufferedEntity } from '../metadata/buffered-entity.js';
import type { RunStatement, SqlDialect } from '../sql/sql-dialect.js';
import type { RowKey, StoredRow } from '../storage/buffer-batch.interface.js';
import { mergeWins } from '../storage/row-state.js';

/** Rows of one kind of a table after merging, and which merged key stands for each key merged away. */
export interface MergedRows<T> {
  rows: Array<[RowKey, T]>;
  /** Key merged away → the key its row was merged into. */
  mergedInto: Map<RowKey, RowKey>;
}

/**
 * Merges the rows of keys that name one database row: two spellings the
 * buffer keys apart but the column's collation compares equal (`'ß'` and
 * `'ss'` under `utf8mb4_unicode_ci`). A keyed UPDATE would change that
 * row once, for one of them; merged, it changes it once for all. The
 * server says which row each key names (`dialect.rowsNamed`); the merged
 * row keeps the first key and `combine`s the others into it in batch order.
 */
export async function mergeKeysNamingOneRow<T>(
  dialect: SqlDialect,
  entity: BufferedEntity,
  rows: Array<[RowKey, T]>,
  combine: (into: T, from: T) => T,
  run: RunStatement,
): Promise<MergedRows<T>> {
  const mergedInto = new Map<RowKey, RowKey>();
  if (!dialect.rowsNamed || rows.length < 2) return { rows, mergedInto };
  const keys = rows.map(([key]) => key);
  /** Stored key of a row → position (0-based) of the first batch row naming it. */
  const first = new Map<string, number>();
  const target = new Map<number, number>();
  for (const statement of dialect.rowsNamed(entity, keys)) {
    const { records } = await run(statement);
    for (const record of records) {
      const position = Number(record.n) - 1;
      const stored = JSON.stringify(entity.primary.map((_, i) => record[`k${i}`]));
      const at = first.get(stored);
      if (at === undefined) first.set(stored, position);
      else target.set(position, at);
    }
  }
  if (target.size === 0) return { rows, mergedInto };
  const merged = rows.map(([key, value]): [RowKey, T] => [key, value]);
  // Positions in batch order, so a later row's values combine over an earlier one's.
  for (const [position, at] of [...target].sort(([a], [b]) => a - b)) {
    merged[at][1] = combine(merged[at][1], rows[position][1]);
    mergedInto.set(keys[position], keys[at]);
  }
  return { rows: merged.filter(([key]) => !mergedInto.has(key)), mergedInto };
}

/**
 * How the updates of two keys naming one row combine: the later one's
 * values over the earlier one's, but a column the entity merges with
 * max/min keeps the greater (lesser) of the two, as applying both would.
 */
export function combineUpdates(entity: BufferedEntity) {
  return (into: StoredRow, from: StoredRow): StoredRow => {
    const combined = { ...into, ...from };
    for (const column in from) {
      const rule = entity.settings.merge[column];
      if (!rule || !(column in into)) continue;
      const merge = { rule, rank: entity.rank(column, from[column]) };
      if (!mergeWins(merge, entity.rank(column, into[column]))) combined[column] = into[column];
    }
    return combined;
  };
}
