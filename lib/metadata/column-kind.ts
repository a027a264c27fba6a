import type { DataSource } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';

/**
 * What kind of JavaScript value a column takes, judged from its database
 * type. For an array column (`array: true`) it is the kind of its elements.
 * `list` is TypeORM's `simple-array`: an array of strings kept as text.
 */
export type ColumnKind =
  'integer' | 'number' | 'boolean' | 'date' | 'string' | 'json' | 'list' | 'binary' | 'other';

/** Classifies a column from the type its driver normalizes it to. */
export function columnKind(dataSource: DataSource, column: ColumnMetadata): ColumnKind {
  if (column.type === 'simple-json') return 'json';
  if (column.type === 'simple-array') return 'list';
  // MySQL keeps booleans as tinyint: TypeORM reads them back as booleans.
  if (column.type === Boolean || column.type === 'boolean' || column.type === 'bool')
    return 'boolean';
  const type = dataSource.driver.normalizeType(column).toLowerCase();
  if (/^(tiny|small|medium|big)?int(eger)?\d*( unsigned)?$|serial/.test(type)) return 'integer';
  if (/float|real|double|decimal|numeric|number|money/.test(type)) return 'number';
  if (/^bool/.test(type)) return 'boolean';
  if (/date|time/.test(type)) return 'date';
  if (/json/.test(type)) return 'json';
  if (/char|text|uuid|clob|enum|string/.test(type)) return 'string';
  if (/blob|binary|bytea/.test(type)) return 'binary';
  return 'other';
}

/** Whether a column of this kind holds numbers (a counter can be one). */
export function isNumericKind(kind: ColumnKind): boolean {
  return kind === 'integer' || kind === 'number';
}

/**
 * The number a column's declared default stands for: a number, or text
 * (an SQL expression included) that is a numeric literal, in parentheses
 * or not, quoted or not; `null` (NULL, which counts as 0) for no default
 * or a NULL one; `undefined` for an expression whose value only the
 * database knows.
 */
export function numericDefault(declared: unknown): number | null | undefined {
  const value = typeof declared === 'function' ? (declared as () => unknown)() : declared;
  if (value === undefined || value === null) return null;
  if (typeof value === 'number') return value;
  if (typeof value !== 'string') return undefined;
  let text = value.trim();
  while (/^\(.*\)$/.test(text)) text = text.slice(1, -1).trim();
  // SQL text (a function's) may be NULL or a quoted literal, cast or not
  // (PostgreSQL's '0'::integer): '0' is 0 for a numeric column.
  if (typeof declared === 'function') {
    text = text.replace(/^(.+?)::[a-z ]+(\(\d+(,\s*\d+)?\))?$/i, '$1').trim();
    while (/^\(.*\)$/.test(text)) text = text.slice(1, -1).trim();
    if (/^null$/i.test(text)) return null;
    if (/^'[^']+'$/.test(text)) text = text.slice(1, -1).trim();
  }
  return text !== '' && Number.isFinite(Number(text)) ? Number(text) : undefined;
}
