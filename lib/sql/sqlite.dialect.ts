import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import type { BufferedEntity } from '../metadata/buffered-entity.js';
import { columnKind } from '../metadata/column-kind.js';
import type { RowKey } from '../storage/buffer-batch.interface.js';
import {
  SqlDialect,
  type CellBinder,
  type KeyedStatement,
  type RowSource,
  type RunStatement,
} from './sql-dialect.js';

/** SQLite's default (and better-sqlite3's) limit on bound parameters. */
const MAX_PARAMETERS = 32_766;

/** SQLite: rows are bound as a multi-row `VALUES` list, chunked under the parameter limit. */
export class SqliteDialect extends SqlDialect {
  protected readonly epochType = 'integer';

  protected maxRows(width: number): number {
    return Math.max(1, Math.floor(MAX_PARAMETERS / width));
  }

  protected placeholder(): string {
    return '?';
  }

  protected rowSource(
    columns: ColumnMetadata[],
    values: unknown[][],
    params: unknown[],
  ): RowSource {
    const rows = values[0].length;
    // better-sqlite3 binds every JS number as a REAL: integer columns get
    // BigInts, so sums stay exact integers beyond 2^53.
    const bound = columns.map((column, c) =>
      this.isInteger(column) ? values[c].map(toInteger) : values[c],
    );
    for (let r = 0; r < rows; r++) for (const column of bound) params.push(column[r]);
    return {
      sql: `(${valuesList(rows, columns.length)}) AS ${this.escape('v')}`,
      names: columns.map((_, i) => `column${i + 1}`),
    };
  }

  /** Integers as BigInts, as `rowSource` binds them. */
  protected override cellBinder(column: ColumnMetadata): CellBinder {
    return this.isInteger(column)
      ? (value, params) => (params.push(toInteger(value)), '?')
      : (value, params) => (params.push(value), '?');
  }

  private readonly integers = new WeakMap<ColumnMetadata, boolean>();

  private isInteger(column: ColumnMetadata): boolean {
    let integer = this.integers.get(column);
    if (integer === undefined) {
      integer = !column.transformer && columnKind(this.dataSource, column) === 'integer';
      this.integers.set(column, integer);
    }
    return integer;
  }

  /**
   * One row: the cells as one JSON array (better-sqlite3 builds an object
   * per row returned, which costs more than SQLite's lookups), and the
   * applied batch ids as another. A number is read as JSON gives it; a
   * cell of text (SQLite lets any column hold text) as its text.
   */
  protected override cellsSql(
    ordinal: string,
    cells: string[],
    from: string,
    ledger?: string,
  ): string {
    const [rows, applied] = [this.escape('rows'), this.escape('applied')];
    // JSON cannot hold a BLOB: one is read as its text, as `CAST` reads it.
    const values = cells.map(
      (cell) => `iif(typeof(${cell}) = 'blob', CAST(${cell} AS TEXT), ${cell})`,
    );
    const sql = `SELECT json_group_array(json_array(${ordinal}, ${values.join(', ')})) AS ${rows}, '[]' AS ${applied} FROM ${from}`;
    if (!ledger) return sql;
    // The keys' parameter comes first in the text, as it is bound.
    const [r, a] = [this.escape('r'), this.escape('a')];
    return (
      `SELECT ${r}.${rows}, ${a}.${applied} FROM (${sql}) ${r}, ` +
      `(SELECT json_group_array(${this.escape('batch_id')}) AS ${applied} FROM ${ledger}) ${a}`
    );
  }

  override cellsRead(records: Array<Record<string, unknown>>): {
    rows: unknown[][];
    applied: unknown[];
  } {
    const [{ rows, applied }] = records as Array<{ rows: string; applied: string }>;
    return { rows: JSON.parse(rows) as unknown[][], applied: JSON.parse(applied) as unknown[] };
  }

  protected keyedUpdateSql(update: string): string {
    return update;
  }

  /**
   * The UPDATE reports how many rows it changed; only when that is short of
   * the keys does a second statement find which are missing. Nothing can
   * create or delete a row in between: the flush's transaction holds
   * SQLite's single write lock since its ledger insert.
   */
  unmatchedKeys(statement: KeyedStatement, run: RunStatement): Promise<RowKey[]> {
    return this.unmatchedByCount(statement, run, () =>
      this.missingRows(statement.entity, statement.keys),
    );
  }

  /**
   * A single-column key of integers or text bound as one JSON array,
   * `[null, key1, key2, …]`, read by `json_each`: one parameter instead of
   * two per key, and a statement whose text does not depend on the number
   * of keys. Each key's `key` (its index) is its 1-based position, and the
   * `null` in front matches no row.
   */
  protected override keysToRead(
    entity: BufferedEntity,
    keys: RowKey[],
    params: unknown[],
  ): RowSource {
    if (entity.primary.length !== 1) return this.numberedKeys(entity, keys, params);
    const integer = this.isInteger(entity.primary[0].metadata);
    let list = '[null';
    for (const value of entity.keyColumns(keys)[0]) {
      const bound = integer && !Number.isSafeInteger(value) ? toInteger(value) : value;
      if (typeof bound === 'bigint') list += `,${bound}`;
      else if (typeof bound === 'string') list += `,${JSON.stringify(bound)}`;
      else if (typeof bound === 'number' && Number.isFinite(bound)) list += `,${jsonNumber(bound)}`;
      else return this.numberedKeys(entity, keys, params);
    }
    params.push(`${list}]`);
    return {
      sql: `json_each(?) AS ${this.escape('v')}`,
      names: [this.escape('value')],
      ordinal: this.escape('key'),
    };
  }

  /** The keys as `VALUES (position, key…), …`: the position first, as `column1`. */
  protected override numberedKeys(
    entity: BufferedEntity,
    keys: RowKey[],
    params: unknown[],
  ): RowSource {
    keys.forEach((key, i) => params.push(i + 1, ...entity.keyValues(key)));
    return {
      sql: `(${valuesList(keys.length, entity.primary.length + 1)}) AS ${this.escape('v')}`,
      names: entity.primary.map((_, i) => `column${i + 2}`),
      ordinal: 'column1',
    };
  }

  /**
   * A trigger of the table on INSERT that is not AFTER it (SQLite's default
   * is BEFORE); a trigger whose body merely mentions INSERT counts too.
   */
  override async upsertMayDiffer(entity: BufferedEntity, run: RunStatement): Promise<boolean> {
    const { records } = await run({
      sql: "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? COLLATE NOCASE",
      params: [entity.metadata.tableName],
    });
    return records.some(
      ({ sql }) => /\bINSERT\b/i.test(String(sql)) && !/\bAFTER\s+INSERT\b/i.test(String(sql)),
    );
  }
}

function toInteger(value: unknown): unknown {
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value);
  return value;
}

/**
 * A number as JSON text SQLite reads back as that double. From 2^53 on,
 * JavaScript spells integers with trailing zeros (`4611686018427389000`
 * for 2^62 + 1024), which SQLite reads as a different 64-bit integer: an
 * exponent makes it read a REAL, as better-sqlite3 binds a number.
 */
function jsonNumber(value: number): string {
  return Math.abs(value) < 2 ** 53 ? `${value}` : value.toExponential();
}

/** `VALUES (?, ?), (?, ?), …` for `rows` rows of `width` placeholders. */
function valuesList(rows: number, width: number): string {
  const tuple = `(${'?, '.repeat(width - 1)}?)`;
  return `VALUES ${tuple}${`, ${tuple}`.repeat(rows - 1)}`;
}
