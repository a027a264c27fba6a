import type { DataSource, EntityMetadata } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import { InvalidIdError, InvalidValueError, UnknownColumnError } from '../errors.js';
import type {
  BufferTarget,
  RowKey,
  StoredRow,
  StoredValue,
} from '../storage/buffer-batch.interface.js';
import { columnKind, type ColumnKind } from './column-kind.js';

interface BufferedColumn {
  metadata: ColumnMetadata;
  kind: ColumnKind;
}

const INTEGER_KEY = /^-?\d+$/;

/**
 * Everything the buffer needs to know about one entity, computed once from
 * its TypeORM metadata: how to validate and encode ids, which columns can
 * be counted, and how values are prepared for the database.
 */
export class BufferedEntity {
  readonly name: string;
  readonly target: BufferTarget;
  readonly primary: BufferedColumn[];
  private readonly columns = new Map<string, BufferedColumn>();

  constructor(
    readonly dataSource: DataSource,
    dataSourceName: string,
    readonly metadata: EntityMetadata,
  ) {
    this.name = metadata.name;
    this.target = { dataSource: dataSourceName, table: metadata.tablePath };
    for (const column of metadata.columns) {
      if (column.isVirtual || column.relationMetadata) continue;
      this.columns.set(column.propertyPath, {
        metadata: column,
        kind: columnKind(dataSource, column),
      });
    }
    this.primary = metadata.primaryColumns.map((column) => this.columns.get(column.propertyPath)!);
  }

  /** Whether the entity has a (non-virtual, non-relation) column with this property path. */
  hasColumn(name: string): boolean {
    return this.columns.has(name);
  }

  /** A column by property path. */
  column(name: string): BufferedColumn {
    const column = this.columns.get(name);
    if (!column) throw UnknownColumnError.notAColumn(this.name, name, [...this.columns.keys()]);
    return column;
  }

  /** The column `increment` counts, which must be numeric and not a key. */
  counter(name: string): BufferedColumn {
    const column = this.columns.get(name);
    if (column && isNumeric(column) && !column.metadata.isPrimary) return column;
    const numeric = [...this.columns.values()]
      .filter((c) => isNumeric(c) && !c.metadata.isPrimary)
      .map((c) => c.metadata.propertyPath);
    if (!column) throw UnknownColumnError.notAColumn(this.name, name, numeric);
    throw UnknownColumnError.notNumeric(this.name, name, numeric);
  }

  /** Validates a delta for a counter column. */
  delta(column: BufferedColumn, by: unknown): number {
    const integer = column.kind === 'integer';
    if (typeof by !== 'number' || !Number.isFinite(by) || (integer && !Number.isInteger(by))) {
      throw InvalidValueError.delta(this.name, column.metadata.propertyPath, by, integer);
    }
    return by;
  }

  /**
   * Validates an id and encodes it as a {@link RowKey}. Integer keys given
   * as strings of digits (route params) become numbers, so `'42'` and `42`
   * name the same row.
   */
  key(id: unknown): RowKey {
    const primary = this.primary;
    if (primary.length === 1) {
      if (id !== null && typeof id === 'object' && !(id instanceof Date)) {
        return this.compositeKey(id as Record<string, unknown>);
      }
      // The common case (a numeric id on an integer key) skips the JSON encoder.
      if (typeof id === 'number' && Number.isSafeInteger(id) && primary[0].kind === 'integer') {
        return `[${id}]`;
      }
      return JSON.stringify([this.keyPart(primary[0], id)]);
    }
    if (id === null || typeof id !== 'object') {
      throw InvalidIdError.missing(this.name, this.primaryNames());
    }
    return this.compositeKey(id as Record<string, unknown>);
  }

  /** The primary column values a key was encoded from, in key order. */
  keyValues(key: RowKey): StoredValue[] {
    return this.primary.length === 1
      ? [this.singleKeyValue(key)]
      : (JSON.parse(key) as StoredValue[]);
  }

  private singleKeyValue(key: RowKey): StoredValue {
    // A numeric key (the common case) needs no JSON parser: `[42]`.
    return key.charCodeAt(1) !== 0x22
      ? Number(key.slice(1, -1))
      : (JSON.parse(key) as StoredValue[])[0];
  }

  /** The values of each primary column (`[column][row]`) of `keys`. */
  keyColumns(keys: RowKey[]): StoredValue[][] {
    if (this.primary.length === 1) return [keys.map((key) => this.singleKeyValue(key))];
    const decoded = keys.map((key) => this.keyValues(key));
    return this.primary.map((_, i) => decoded.map((values) => values[i]));
  }

  /** A key as an object naming each primary column (the shape users pass as `id`). */
  keyObject(key: RowKey): Record<string, StoredValue> {
    const values = this.keyValues(key);
    return Object.fromEntries(this.primary.map((c, i) => [c.metadata.propertyPath, values[i]]));
  }

  /** Validates an update patch and prepares its values for the database. */
  patch(patch: unknown): StoredRow {
    if (!isPlainObject(patch)) throw InvalidValueError.notAnObject(this.name, 'patch', patch);
    const names = Object.keys(patch);
    if (names.length === 0) throw InvalidValueError.emptyPatch(this.name);
    const values: StoredRow = {};
    for (const name of names) {
      const column = this.column(name);
      if (column.metadata.isPrimary) throw UnknownColumnError.primary(this.name, name);
      values[name] = this.prepare(column, patch[name]);
    }
    return values;
  }

  /** Validates an insert row and prepares its values for the database. */
  row(row: unknown): StoredRow {
    if (!isPlainObject(row)) throw InvalidValueError.notAnObject(this.name, 'row', row);
    const values: StoredRow = {};
    for (const name of Object.keys(row)) {
      if (row[name] === undefined) continue;
      values[name] = this.prepare(this.column(name), row[name]);
    }
    const missing = [...this.columns.values()]
      .filter((c) => isRequired(c.metadata) && !(c.metadata.propertyPath in values))
      .map((c) => c.metadata.propertyPath);
    if (missing.length) throw InvalidValueError.required(this.name, missing);
    return values;
  }

  private compositeKey(id: Record<string, unknown>): RowKey {
    const names = this.primaryNames();
    const given = Object.keys(id);
    const missing = names.filter((name) => id[name] === undefined);
    const extra = given.filter((name) => !names.includes(name));
    if (missing.length || extra.length) {
      throw InvalidIdError.composite(this.name, names, missing, extra);
    }
    return JSON.stringify(
      this.primary.map((column) => this.keyPart(column, id[column.metadata.propertyPath])),
    );
  }

  private keyPart(column: BufferedColumn, value: unknown): string | number {
    const name = column.metadata.propertyPath;
    if (value === undefined || value === null) {
      throw InvalidIdError.missing(this.name, this.primaryNames());
    }
    if (column.kind === 'integer') {
      if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
      if (typeof value === 'bigint') value = value.toString();
      if (typeof value === 'string' && INTEGER_KEY.test(value)) {
        const number = Number(value);
        // Keys beyond 2^53 stay exact as canonical decimal strings.
        return Number.isSafeInteger(number) ? number : BigInt(value).toString();
      }
      throw InvalidIdError.type(this.name, name, 'an integer', value);
    }
    if (column.kind === 'number') {
      const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      if (typeof number === 'number' && Number.isFinite(number)) return number;
      throw InvalidIdError.type(this.name, name, 'a number', value);
    }
    if (typeof value === 'string') return value;
    if (typeof value === 'number' && Number.isFinite(value) && column.kind !== 'date') {
      return String(value);
    }
    if (value instanceof Date && !Number.isNaN(value.getTime())) return value.toISOString();
    throw InvalidIdError.type(this.name, name, `a ${column.kind}`, value);
  }

  private prepare(column: BufferedColumn, value: unknown): StoredValue {
    const name = column.metadata.propertyPath;
    if (value === null) {
      if (!column.metadata.isNullable) throw InvalidValueError.notNullable(this.name, name);
      return null;
    }
    if (!column.metadata.transformer) checkKind(this.name, column, value);
    const prepared = this.dataSource.driver.preparePersistentValue(value, column.metadata);
    return copy(prepared);
  }

  private primaryNames(): string[] {
    return this.primary.map((column) => column.metadata.propertyPath);
  }
}

function checkKind(entity: string, column: BufferedColumn, value: unknown) {
  const fail = (expected: string) => {
    throw InvalidValueError.column(entity, column.metadata.propertyPath, expected, value);
  };
  switch (column.kind) {
    case 'integer':
      if (typeof value === 'bigint') return;
      if (
        typeof value === 'number'
          ? !Number.isInteger(value)
          : !(typeof value === 'string' && INTEGER_KEY.test(value))
      ) {
        fail('an integer');
      }
      return;
    case 'number':
      if (
        typeof value === 'number'
          ? !Number.isFinite(value)
          : !(typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)))
      ) {
        fail('a finite number');
      }
      return;
    case 'boolean':
      if (typeof value !== 'boolean') fail('a boolean');
      return;
    case 'date':
      if (value instanceof Date ? Number.isNaN(value.getTime()) : typeof value !== 'string') {
        fail('a valid Date (or a date string)');
      }
      return;
    case 'string':
      if (typeof value !== 'string') fail('a string');
      return;
    case 'binary':
      if (!Buffer.isBuffer(value)) fail('a Buffer');
      return;
  }
}

function copy(value: unknown): StoredValue {
  if (value instanceof Date) return new Date(value.getTime());
  if (Buffer.isBuffer(value)) return Buffer.from(value);
  if (typeof value === 'bigint') return value.toString();
  if (value !== null && typeof value === 'object') return JSON.stringify(value);
  return value as StoredValue;
}

function isNumeric(column: BufferedColumn): boolean {
  return column.kind === 'integer' || column.kind === 'number';
}

function isRequired(column: ColumnMetadata): boolean {
  return (
    !column.isNullable &&
    column.default === undefined &&
    !column.isGenerated &&
    !column.isCreateDate &&
    !column.isUpdateDate &&
    !column.isDeleteDate &&
    !column.isVersion
  );
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  // Entity instances are fine; containers and scalars wrapped in objects are not.
  return !(
    value instanceof Date ||
    value instanceof Map ||
    value instanceof Set ||
    Buffer.isBuffer(value)
  );
}
