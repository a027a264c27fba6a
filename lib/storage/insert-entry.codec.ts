import type { RowKey, StoredRow } from './buffer-batch.interface.js';
import { decodeJson, encodeJson } from './stored-value.codec.js';

/**
 * A pending insert as LMDB keeps it: `[row, key]` when it names its whole
 * primary key, else the row.
 */
export function encodeInsert(row: StoredRow, key: RowKey | null | undefined): string {
  return encodeJson(key ? [row, key] : row);
}

/** The row and key (or `null`) of an insert encoded by {@link encodeInsert}. */
export function decodeInsert(text: string): { row: StoredRow; key: RowKey | null } {
  const value = decodeJson<unknown>(text);
  const [row, key] = Array.isArray(value) ? value : [value, null];
  return { row: row as StoredRow, key: key as RowKey | null };
}
