import type { CellLayer, ClaimedBatch, RowKey, StoredRow } from './buffer-batch.interface.js';
import { countColumns } from './count-columns.js';
import type { RowState } from './row-state.js';

/**
 * An in-flight batch indexed for `BufferStorage.read`: its rows and its
 * keyed inserts (the first of each key), by table.
 */
export interface BatchCells {
  rows: Map<string, Map<RowKey, RowState>>;
  inserted: Map<string, Map<RowKey, StoredRow>>;
}

/** Indexes a batch's rows and keyed inserts by table, as `read` looks them up. */
export function batchCells(batch: ClaimedBatch): BatchCells {
  return { rows: rowsOf(batch), inserted: insertedOf(batch) };
}

/** A batch's rows by table. */
export function rowsOf(batch: ClaimedBatch): Map<string, Map<RowKey, RowState>> {
  const rows = new Map<string, Map<RowKey, RowState>>();
  for (const part of batch.tables) {
    const byKey = new Map<RowKey, RowState>();
    for (const [key, set] of part.updates) byKey.set(key, { set });
    for (const [key, deltas] of part.counters) byKey.set(key, { ...byKey.get(key), deltas });
    rows.set(part.table, byKey);
  }
  return rows;
}

/** A batch's keyed inserts by table (the first of each key). */
export function insertedOf(batch: ClaimedBatch): Map<string, Map<RowKey, StoredRow>> {
  const inserted = new Map<string, Map<RowKey, StoredRow>>();
  for (const { table, inserts, insertKeys } of batch.tables) {
    if (!insertKeys) continue;
    const byKey = new Map<RowKey, StoredRow>();
    insertKeys.forEach((key, i) => key !== null && !byKey.has(key) && byKey.set(key, inserts[i]));
    inserted.set(table, byKey);
  }
  return inserted;
}

/** Entries a batch holds: insert rows, updated rows, and counters. */
export function entriesOf(batch: ClaimedBatch): number {
  let entries = 0;
  for (const part of batch.tables) {
    entries += part.inserts.length + part.updates.length;
    for (let i = 0; i < part.counters.length; i++) entries += countColumns(part.counters[i][1]);
  }
  return entries;
}

/** The layer of a buffered insert of the row. */
export function insertLayer(row: StoredRow, column: string, batchId?: string): CellLayer {
  return { batchId, inserted: true, isSet: true, value: row[column], delta: 0 };
}

/**
 * Adds the layer a row's state makes for `column`, if it touches it: a
 * counter whose deltas add up to 0 does, since a flush applies it (and
 * creates the row, for an entity whose writes create missing rows).
 */
export function pushLayer(layers: CellLayer[], row: RowState, column: string, batchId?: string) {
  const isSet = row.set !== undefined && column in row.set;
  const delta = row.deltas?.[column];
  if (!isSet && delta === undefined) return;
  layers.push({ batchId, isSet, value: isSet ? row.set![column] : undefined, delta: delta ?? 0 });
}

/**
 * A numeric cell's current value: what the database holds (`stored`, `null`
 * for NULL, which counts as 0; `exists` false when the row is not there)
 * with the layers not applied yet on top. Layers of batches in `applied`
 * (recorded in the ledger) are in `stored` already and are skipped; only
 * the first insert of a row that does not exist takes effect, as in the
 * database; `defaults` say what a missing row or an insert leaving the
 * column out holds, and whether counters and updates create the row.
 */
export function foldCell(
  stored: string | number | null,
  exists: boolean,
  layers: readonly CellLayer[],
  applied: ReadonlySet<unknown>,
  defaults: CellDefaults,
): number {
  const add = defaults.add ?? addNumbers;
  let value = !exists ? defaults.absent : stored == null ? 0 : storedNumber(stored);
  for (const layer of layers) {
    if (layer.batchId && applied.has(layer.batchId)) continue;
    if (layer.inserted) {
      if (exists) continue;
      exists = true;
      value = layer.value === undefined ? defaults.inserted() : add(Number(layer.value), 0);
      continue;
    }
    if (layer.isSet) value = layer.value == null ? 0 : add(Number(layer.value), 0);
    value = add(value, layer.delta);
    // An upsert creates the row: a later insert finds it there.
    if (defaults.upserts) exists = true;
  }
  return value;
}

/** A cell read from the database as a number: SQLite casts an infinite REAL to `'Inf'`. */
function storedNumber(stored: string | number): number {
  if (stored === 'Inf' || stored === '-Inf') return stored === 'Inf' ? Infinity : -Infinity;
  return Number(stored);
}

/** What a numeric cell holds where nothing was written to it (see {@link foldCell}). */
export interface CellDefaults {
  /** Value of a row the database does not have (the default of a row an upsert creates, else 0). */
  absent: number;
  /** Value of the column in a buffered insert that leaves it out. */
  inserted: () => number;
  /** Whether flushing a counter or update creates a missing row (`onMissingRow: 'insert'`). */
  upserts: boolean;
  /**
   * How the database adds a delta to the column's value (default: as
   * floating point): a decimal column adds exactly and rounds to its
   * scale, each time a value is stored in it.
   */
  add?: (value: number, delta: number) => number;
}

function addNumbers(value: number, delta: number): number {
  return value + delta;
}
