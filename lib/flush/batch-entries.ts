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

/** Names a counter or update entry within its batch, as the ledger records the ones that found no row. */
export function entryId(entry: Exclude<BatchEntry, { kind: 'insert' }>): string {
  return JSON.stringify([entry.table, entry.kind, entry.key]);
}
