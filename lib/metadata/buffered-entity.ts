import type { DataSource, EntityMetadata } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import {
  InvalidIdError,
  InvalidValueError,
  UnknownColumnError,
  UnsuitableColumnError,
} from '../errors.js';
import type {
  BufferTarget,
  ColumnMerge,
  RowKey,
  StoredRow,
  StoredValue,
} from '../storage/buffer-batch.interface.js';
import {
  decodeRowKey,
  decodeSingleRowKey,
  encodeIntegerRowKey,
  encodeRowKey,
} from '../storage/row-key.codec.js';
import type { CellDefaults } from '../storage/cell-layers.js';
import { columnKind, isNumericKind, numericDefault, type ColumnKind } from './column-kind.js';
import { mergeRank } from './column-merge.js';
import { DEFAULT_ENTITY_SETTINGS, type EntitySettings } from './entity-settings.js';
import {
  INVALID,
  addDecimal,
  addSingle,
  decimalScale,
  dialectOf,
  isDecimalType,
  integerRange,
  isUuidColumn,
  keyForm,
  type KeyForm,
  type KeyPart,
} from './key-form.js';
import { valueForm, type ValueForm } from './value-form.js';

/**
 * Longest encoded row key, in UTF-8 bytes: LMDB keys hold at most 1,978
 * bytes, and the journal and the lmdb storage prefix a row key with its
 * data source and table.
 */
export const MAX_ROW_KEY_BYTES = 1024;

interface BufferedColumn {
  metadata: ColumnMetadata;
  kind: ColumnKind;
  /** How its values are validated and prepared for the database. */
  value: ValueForm;
  /** How its values are spelled in row keys (primary columns only). */
  key?: KeyForm;
}

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
  private readonly defaults = new Map<string, CellDefaults>();
  /** Bounds of a single integer primary column, for the fast path of `key`. */
  private readonly fastInteger?: { min: number; max: number };

  constructor(
    readonly dataSource: DataSource,
    dataSourceName: string,
    readonly metadata: EntityMetadata,
    /** What `WriteBufferModule.forFeature()` set for the entity, over the module's options. */
    readonly settings: EntitySettings = DEFAULT_ENTITY_SETTINGS,
  ) {
    this.name = metadata.name;
    this.target = { dataSource: dataSourceName, table: metadata.tablePath };
    for (const column of metadata.columns) {
      if (column.isVirtual || column.relationMetadata) continue;
      const kind = columnKind(dataSource, column);
      this.columns.set(column.propertyPath, {
        metadata: column,
        kind,
        value: valueForm(dataSource, column, kind),
        key: column.isPrimary ? keyForm(dataSource, column, kind) : undefined,
      });
    }
    this.primary = metadata.primaryColumns.map((column) => this.columns.get(column.propertyPath)!);
    const [only] = this.primary;
    if (this.primary.length === 1 && only.kind === 'integer' && !isUuidColumn(only.metadata)) {
      const range = integerRange(dataSource, only.metadata);
      this.fastInteger = { min: Number(range.min), max: Number(range.max) };
    }
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

  /** The column `increment` counts, which must be numeric, not a key and not computed. */
  counter(name: string): BufferedColumn {
    const column = this.columns.get(name);
    if (column && isComputed(column)) throw UnsuitableColumnError.computed(this.name, name);
    if (column && isNumeric(column) && !column.metadata.isPrimary) {
      const rule = this.settings.merge[name];
      if (rule) throw UnsuitableColumnError.merged(this.name, name, rule);
      return column;
    }
    const numeric = this.counterNames();
    if (!column) throw UnknownColumnError.notAColumn(this.name, name, numeric);
    throw UnsuitableColumnError.notNumeric(this.name, name, numeric);
  }

  /** The columns `counter` accepts (numeric, not a key, not merged with max/min), by property path. */
  counterNames(): string[] {
    return [...this.columns.values()]
      .filter(
        (c) =>
          isNumeric(c) &&
          !c.metadata.isPrimary &&
          !isComputed(c) &&
          !this.settings.merge[c.metadata.propertyPath],
      )
      .map((c) => c.metadata.propertyPath);
  }

  /** The columns an update or increment can write (every column but the key's), by property path. */
  writableNames(): string[] {
    return [...this.columns.values()]
      .filter((c) => !c.metadata.isPrimary && !isComputed(c))
      .map((c) => c.metadata.propertyPath);
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
   * Validates an id and encodes it as a {@link RowKey}: each primary value
   * in the canonical form of its column's type (see {@link keyForm}), so
   * every spelling the database treats as the same value names the same
   * buffered row (`'42'`, `'+42'` and `42`; a PostgreSQL uuid in any case).
   */
  key(id: unknown): RowKey {
    const primary = this.primary;
    if (primary.length === 1) {
      if (id !== null && typeof id === 'object' && !isDate(id)) {
        return this.compositeKey(id as Record<string, unknown>);
      }
      // The common case (a numeric id on an integer key) skips the JSON encoder.
      const fast = this.fastInteger;
      if (fast && typeof id === 'number' && Number.isSafeInteger(id)) {
        if (id >= fast.min && id <= fast.max) return encodeIntegerRowKey(id);
      }
      return this.bounded(encodeRowKey([this.keyPart(primary[0], id)]));
    }
    if (id === null || typeof id !== 'object') {
      throw InvalidIdError.missing(this.name, this.primaryNames());
    }
    return this.compositeKey(id as Record<string, unknown>);
  }

  /** Refuses a key LMDB could not index (its keys hold at most 1,978 bytes, storage prefix included). */
  private bounded(key: RowKey): RowKey {
    if (key.length * 3 > MAX_ROW_KEY_BYTES) {
      const bytes = Buffer.byteLength(key);
      if (bytes > MAX_ROW_KEY_BYTES)
        throw InvalidIdError.tooLong(this.name, bytes, MAX_ROW_KEY_BYTES);
    }
    return key;
  }

  /**
   * The key of an insert row that names its whole primary key, or `null`
   * (a generated key, or a spelling no key can be made of).
   */
  insertKey(row: Record<string, unknown>): RowKey | null {
    const names = this.primaryNames();
    if (names.some((name) => row[name] === undefined || row[name] === null)) return null;
    try {
      return this.key(
        names.length === 1 ? row[names[0]] : Object.fromEntries(names.map((n) => [n, row[n]])),
      );
    } catch {
      return null;
    }
  }

  /**
   * The value a column takes when an insert leaves it out, as `get()`
   * counts it: its default when that is a number (or an SQL expression
   * that is a numeric literal), else 0.
   */
  defaultNumber(name: string): number {
    return numericDefault(this.column(name).metadata.default) ?? 0;
  }

  /**
   * What a numeric cell of `name` holds where nothing was written to it,
   * and how the database adds to it, for `foldCell`; worked out once per
   * column (every read folds with it).
   */
  cellDefaults(name: string): CellDefaults {
    let defaults = this.defaults.get(name);
    if (!defaults) {
      const upserts = this.settings.onMissingRow === 'insert';
      const inserted = this.defaultNumber(name);
      defaults = {
        absent: upserts ? inserted : 0,
        inserted: () => inserted,
        upserts,
        add: this.decimalAdd(name),
      };
      this.defaults.set(name, defaults);
    }
    return defaults;
  }

  /**
   * How the database adds a delta to a column whose sum a double would
   * not give: a decimal with a fixed scale (see {@link addDecimal}) or a
   * single-precision float (see {@link addSingle}); undefined for the
   * others (SQLite keeps decimals as REAL).
   */
  private decimalAdd(name: string): ((value: number, delta: number) => number) | undefined {
    const column = this.column(name).metadata;
    const dialect = dialectOf(this.dataSource);
    if (dialect !== 'postgres' && dialect !== 'mysql') return undefined;
    const type = this.dataSource.driver.normalizeType(column).toLowerCase();
    if (dialect === 'postgres' && /^(real|float4)$/.test(type)) {
      return (value, delta) => addSingle(value, delta, 'postgres');
    }
    if (dialect === 'mysql' && type === 'float' && (column.precision ?? 0) <= 24) {
      return (value, delta) => addSingle(value, delta, 'mysql');
    }
    if (!isDecimalType(type)) return undefined;
    const scale = decimalScale(column, dialect);
    return scale === undefined ? undefined : (value, delta) => addDecimal(value, delta, scale);
  }

  /** The primary column values a key was encoded from, in key order. */
  keyValues(key: RowKey): StoredValue[] {
    return this.primary.length === 1 ? [decodeSingleRowKey(key)] : decodeRowKey(key);
  }

  /** The values of each primary column (`[column][row]`) of `keys`. */
  keyColumns(keys: RowKey[]): StoredValue[][] {
    if (this.primary.length === 1) return [keys.map(decodeSingleRowKey)];
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
      if (column.metadata.isPrimary) throw UnsuitableColumnError.primary(this.name, name);
      if (isComputed(column)) throw UnsuitableColumnError.computed(this.name, name);
      values[name] = this.prepare(column, patch[name]);
      if (
        this.settings.merge[name] &&
        typeof values[name] === 'string' &&
        column.kind === 'integer'
      ) {
        // Merged values are compared as doubles by the storages: exact up to 2^53.
        throw InvalidValueError.column(
          this.name,
          name,
          'a safe integer (a merged column)',
          patch[name],
        );
      }
    }
    return values;
  }

  /**
   * How an update merges the columns of `values` the entity merges with
   * max/min (`forFeature`'s `merge`), or `undefined` when it merges none.
   */
  merges(values: StoredRow): Record<string, ColumnMerge> | undefined {
    let merges: Record<string, ColumnMerge> | undefined;
    for (const name in values) {
      const rule = this.settings.merge[name];
      if (rule) (merges ??= {})[name] = { rule, rank: this.rank(name, values[name]) };
    }
    return merges;
  }

  /** The number a merged column's value compares by (see {@link mergeRank}). */
  rank(name: string, value: StoredValue | undefined): number | null {
    return mergeRank(this.dataSource, this.column(name).metadata, value);
  }

  /** Validates an insert row and prepares its values for the database. */
  row(row: unknown): StoredRow {
    if (!isPlainObject(row)) throw InvalidValueError.notAnObject(this.name, 'row', row);
    const values: StoredRow = {};
    for (const name of Object.keys(row)) {
      if (row[name] === undefined) continue;
      const column = this.column(name);
      if (isComputed(column)) throw UnsuitableColumnError.computed(this.name, name);
      values[name] = this.prepare(column, row[name]);
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
    return this.bounded(
      encodeRowKey(
        this.primary.map((column) => this.keyPart(column, id[column.metadata.propertyPath])),
      ),
    );
  }

  private keyPart(column: BufferedColumn, value: unknown): KeyPart {
    if (value === undefined || value === null) {
      throw InvalidIdError.missing(this.name, this.primaryNames());
    }
    const form = column.key!;
    const part = form.canonical(value);
    if (part === INVALID) {
      throw InvalidIdError.type(
        this.name,
        column.metadata.propertyPath,
        form.type,
        value,
        form.expected,
      );
    }
    return part;
  }

  private prepare(column: BufferedColumn, value: unknown): StoredValue {
    const name = column.metadata.propertyPath;
    if (value === null) {
      if (!column.metadata.isNullable) throw InvalidValueError.notNullable(this.name, name);
      return null;
    }
    const fail = (expected: string) => {
      throw InvalidValueError.column(this.name, name, expected, value);
    };
    // A transformer decides what the database gets: TypeORM applies it.
    const checked = column.metadata.transformer ? value : column.value.check(value, fail);
    let prepared: unknown;
    try {
      prepared = column.value.prepare(checked);
    } catch (error) {
      fail(`a value it can store (${(error as Error).message})`);
    }
    if (isDate(prepared) && Number.isNaN(prepared.getTime())) fail('a valid date');
    return copy(prepared);
  }

  private primaryNames(): string[] {
    return this.primary.map((column) => column.metadata.propertyPath);
  }
}

function copy(value: unknown): StoredValue {
  if (value instanceof Date) return new Date(value.getTime());
  if (Buffer.isBuffer(value)) return Buffer.from(value);
  if (typeof value === 'bigint') return value.toString();
  if (value !== null && typeof value === 'object') return JSON.stringify(value);
  return value as StoredValue;
}

/** A column the database computes (`asExpression`): nothing can write it. */
function isComputed(column: BufferedColumn): boolean {
  return column.metadata.asExpression !== undefined;
}

function isNumeric(column: BufferedColumn): boolean {
  return isNumericKind(column.kind);
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

function isDate(value: unknown): value is Date {
  return Object.prototype.toString.call(value) === '[object Date]';
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
