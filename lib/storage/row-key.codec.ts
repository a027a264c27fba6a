import type { RowKey, StoredValue } from './buffer-batch.interface.js';

/**
 * The one encoding of a row key, used by every storage, the flusher and
 * the dialects: the JSON array of the row's canonical primary column
 * values, in primary-column order (`[42]`, `["eu",7]`,
 * `["9007199254740993"]`). Two spellings of one row encode to the same
 * key, since callers pass canonical values (see `key-form.ts`).
 *
 * Stored formats rely on two properties, so they must never change (a
 * change would misread the LMDB journal and Redis keys written before it):
 * - a key starts with `[` and holds no raw newline (JSON escapes it), which
 *   is how the Redis insert lists tell a keyed insert (`<key>\n<row>`)
 *   from a bare row (`{…}`);
 * - a key is its own JSON text, so it nests inside other JSON (the Redis
 *   cell field `[key, column]`) and the Lua scripts can decode it.
 */
export function encodeRowKey(values: readonly StoredValue[]): RowKey {
  if (values.length === 1 && typeof values[0] === 'number' && Number.isSafeInteger(values[0])) {
    return encodeIntegerRowKey(values[0]);
  }
  return JSON.stringify(values);
}

/**
 * The key of a single integer primary value: what {@link encodeRowKey}
 * gives for `[id]`, without the JSON encoder (the common case of a hot
 * counter). `id` must be a safe integer.
 */
export function encodeIntegerRowKey(id: number): RowKey {
  // `-0` encodes as `0`, as JSON.stringify writes it.
  return `[${id}]`;
}

/** The primary column values a key was encoded from, in key order. */
export function decodeRowKey(key: RowKey): StoredValue[] {
  return JSON.parse(key) as StoredValue[];
}

/** The value of a key of one primary column. */
export function decodeSingleRowKey(key: RowKey): StoredValue {
  // A numeric key (the common case) needs no JSON parser: `[42]`.
  const first = key.charCodeAt(1);
  return (first >= 0x30 && first <= 0x39) || first === 0x2d
    ? Number(key.slice(1, -1))
    : decodeRowKey(key)[0];
}
