import type { DeadLetter } from '../flush/dead-letter.interface.js';
import type {
  BatchTable,
  ClaimedBatch,
  ColumnMerge,
  RowKey,
  StoredRow,
  StoredValue,
} from './buffer-batch.interface.js';
import { tableName, tablePath } from './redis.key-layout.js';
import type { Reply } from './redis.scripts.js';
import { decodeJson, encodeJson } from './stored-value.codec.js';

/**
 * The hash field of one cell in the counter and update hashes: the JSON
 * array `[rowKey, column]` (a row key is JSON itself, see row-key.codec.ts).
 */
export function cellField(key: RowKey, column: string): string {
  // A key without quotes or escapes (numbers only) is its own JSON string body.
  if (key.indexOf('"') < 0 && key.indexOf('\\') < 0) return `["${key}",${columnJson(column)}]`;
  return JSON.stringify([key, column]);
}

/** The row key and column a {@link cellField} names. */
export function decodeCellField(field: string): [key: RowKey, column: string] {
  return JSON.parse(field) as [RowKey, string];
}

/** JSON strings of column names (entity columns: a handful), made once. */
const columnJsons = new Map<string, string>();
function columnJson(column: string): string {
  let json = columnJsons.get(column);
  if (json === undefined) columnJsons.set(column, (json = JSON.stringify(column)));
  return json;
}

/**
 * An insert row as the insert lists hold it: prefixed with its row key and
 * a newline when it names its whole primary key (a row key is JSON: it has
 * no raw newline), so the scripts can index it.
 */
export function insertItem(row: StoredRow, key: RowKey | null | undefined): string {
  return key ? `${key}\n${encodeJson(row)}` : encodeJson(row);
}

/** The row and row key (or `null`) of an {@link insertItem}. */
export function decodeInsertItem(item: string): { row: StoredRow; key: RowKey | null } {
  // A row key starts with '[', a bare row with '{'.
  if (item.charCodeAt(0) !== 0x5b) return { row: decodeJson<StoredRow>(item), key: null };
  const newline = item.indexOf('\n');
  return { row: decodeJson<StoredRow>(item.slice(newline + 1)), key: item.slice(0, newline) };
}

/** Table parts as the claim and in-flight scripts return them: table, inserts, counters, updates. */
export function decodeParts(reply: Reply[]): BatchTable[] {
  const tables: BatchTable[] = [];
  for (let i = 0; i < reply.length; i += 4) {
    const updates = new Map<RowKey, StoredRow>();
    const upd = reply[i + 3] as string[];
    for (let j = 0; j < upd.length; j += 2) {
      const [key, column] = decodeCellField(upd[j]);
      let row = updates.get(key);
      if (!row) updates.set(key, (row = {}));
      row[column] = decodeJson<StoredValue>(upd[j + 1]);
    }
    const counters = new Map<RowKey, Record<string, number>>();
    const cnt = reply[i + 2] as string[];
    for (let j = 0; j < cnt.length; j += 2) {
      const [key, column] = decodeCellField(cnt[j]);
      let deltas = counters.get(key);
      if (!deltas) counters.set(key, (deltas = {}));
      deltas[column] = Number(cnt[j + 1]);
    }
    const items = (reply[i + 1] as string[]).map(decodeInsertItem);
    const keyed = items.some((item) => item.key !== null);
    tables.push({
      table: tablePath(reply[i] as string),
      inserts: items.map((item) => item.row),
      ...(keyed && { insertKeys: items.map((item) => item.key) }),
      // Hash fields come back in an order Redis may change: sorted, a batch is the same batch every time it is read.
      updates: [...updates].sort(byKey),
      counters: [...counters].sort(byKey),
    });
  }
  return tables;
}

function byKey(a: [RowKey, unknown], b: [RowKey, unknown]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

/** A batch as the settle script stores the parts of a split: fields and encoded values, as claimed. */
export function encodeBatch(batch: ClaimedBatch) {
  return {
    id: batch.id,
    tables: batch.tables.map((part) => ({
      table: tableName(part.table),
      inserts: part.inserts.map((row, i) => insertItem(row, part.insertKeys?.[i])),
      counters: part.counters.flatMap(([key, deltas]) =>
        Object.entries(deltas).flatMap(([column, delta]) => [
          cellField(key, column),
          String(delta),
        ]),
      ),
      updates: part.updates.flatMap(([key, values]) =>
        Object.entries(values).flatMap(([column, value]) => [
          cellField(key, column),
          encodeJson(value),
        ]),
      ),
    })),
  };
}

/** A merged cell as the write and requeue scripts take it: field, value, rank ('' for NULL), rule. */
export function mergedCell(field: string, value: string, merge: ColumnMerge): string[] {
  return [field, value, merge.rank === null ? '' : String(merge.rank), merge.rule];
}

/** What re-buffering a dead letter writes, ready for the requeue script. */
export function requeueOps(letter: DeadLetter): string {
  const cells = (encode: (value: StoredRow[string]) => string, only = (_: string) => true) =>
    Object.entries(letter.payload).flatMap(([column, value]) =>
      only(column) ? [cellField(letter.rowKey!, column), encode(value)] : [],
    );
  const merges = letter.merges ?? {};
  // Merged columns are compared as a write of them is (see WRITE_SCRIPT's mergeCells).
  const merged = Object.entries(letter.payload).flatMap(([column, value]) => {
    const merge = merges[column];
    return merge ? mergedCell(cellField(letter.rowKey!, column), encodeJson(value), merge) : [];
  });
  return JSON.stringify({
    table: tableName(letter.table),
    sets: letter.kind === 'update' ? cells(encodeJson, (column) => !merges[column]) : [],
    merged: letter.kind === 'update' ? merged : [],
    deltas: letter.kind === 'counter' ? cells(String) : [],
    inserts: letter.kind === 'insert' ? [insertItem(letter.payload, letter.rowKey)] : [],
  });
}
