import type {
  BatchTable,
  ClaimedBatch,
  RowKey,
  StoredRow,
} from '../storage/buffer-batch.interface.js';

/** One buffered write of a claimed batch, the unit poison isolation narrows down to. */
export type BatchEntry =
  | { table: string; kind: 'insert'; row: StoredRow; key: RowKey | null }
  | { table: string; kind: 'update'; key: RowKey; values: StoredRow }
  | { table: string; kind: 'counter'; key: RowKey; deltas: Record<string, number> };

/** The batch's writes in apply order: all inserts, then updates, then counters. */
export function batchEntries(batch: ClaimedBatch): BatchEntry[] {
  const entries: BatchEntry[] = [];
  for (const { table, inserts, insertKeys } of batch.tables) {
    inserts.forEach((row, i) =>
      entries.push({ table, kind: 'insert', row, key: insertKeys?.[i] ?? null }),
    );
  }
  for (const { table, updates } of batch.tables) {
    for (const [key, values] of updates) entries.push({ table, kind: 'update', key, values });
  }
  for (const { table, counters } of batch.tables) {
    for (const [key, deltas] of counters) entries.push({ table, kind: 'counter', key, deltas });
  }
  return entries;
}

/** A batch of just `entries` (same data source), keeping their order. */
export function batchOf(batch: ClaimedBatch, id: string, entries: BatchEntry[]): ClaimedBatch {
  const tables = new Map<string, BatchTable>();
  const part = (table: string) => {
    let found = tables.get(table);
    if (!found) tables.set(table, (found = { table, inserts: [], updates: [], counters: [] }));
    return found;
  };
  for (const entry of entries) {
    if (entry.kind === 'insert') {
      const found = part(entry.table);
      if (entry.key !== null) {
        found.insertKeys ??= found.inserts.map(() => null);
        found.insertKeys.push(entry.key);
      } else found.insertKeys?.push(null);
      found.inserts.push(entry.row);
    } else if (entry.kind === 'update') part(entry.table).updates.push([entry.key, entry.values]);
    else part(entry.table).counters.push([entry.key, entry.deltas]);
  }
  return { id, dataSource: batch.dataSource, tables: [...tables.values()] };
}

/** A counter or update entry of a batch, with its place among the batch's entries. */
export type KeyedEntry = Exclude<BatchEntry, { kind: 'insert' }> & { position: number };

/**
 * How many entries a batch holds, counted as `claim` counts them against
 * its `maxRows`: each insert, plus each distinct row (a row may have both
 * an update and counters).
 */
export function batchSize(batch: ClaimedBatch): number {
  let size = 0;
  for (const part of batch.tables) size += tableSize(part);
  return size;
}

/** How many entries one table's part of a batch holds, as {@link batchSize} counts them. */
function tableSize({ inserts, updates, counters }: BatchTable): number {
  if (updates.length === 0 || counters.length === 0) {
    return inserts.length + updates.length + counters.length;
  }
  const rows = new Set([...updates.map(([key]) => key), ...counters.map(([key]) => key)]);
  return inserts.length + rows.size;
}

/**
 * Whether a claim may have left entries behind: the tables sharing
 * `maxRows` filled it, or a table with a limit of its own (`limits`, by
 * table path) filled that.
 */
export function claimFilled(
  batch: ClaimedBatch,
  maxRows: number,
  limits?: Readonly<Record<string, number>>,
): boolean {
  let shared = 0;
  for (const part of batch.tables) {
    const own = limits?.[part.table];
    if (own === undefined) shared += tableSize(part);
    else if (tableSize(part) >= own) return true;
  }
  return shared >= maxRows;
}
