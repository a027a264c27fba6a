import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import type { BufferedEntity } from '../metadata/buffered-entity.js';
import type { RowKey } from '../storage/buffer-batch.interface.js';
import {
  SqlDialect,
  type KeyedStatement,
  type RowSource,
  type RunStatement,
} from './sql-dialect.js';

/**
 * PostgreSQL: rows are bound as one array per column and expanded with
 * `unnest`, so a statement has as many parameters as columns, whatever
 * the number of rows.
 */
export class PostgresDialect extends SqlDialect {
  protected readonly epochType = 'bigint';

  protected maxRows(): number {
    return 50_000;
  }

  protected placeholder(index: number): string {
    return `$${index + 1}`;
  }

  protected rowSource(
    columns: ColumnMetadata[],
    values: unknown[][],
    params: unknown[],
    numbered = false,
  ): RowSource {
    const names = columns.map((_, i) => this.escape(`wb_c${i}`));
    // `unnest` flattens arrays of arrays: an array column is bound as the
    // text of each row's array literal and cast row by row.
    const casts = columns.map((column) => (column.isArray ? `${this.typeOf(column)}[]` : ''));
    const arrays = columns.map((column, i) => {
      params.push(column.isArray ? values[i].map(arrayLiteral) : values[i]);
      const type = column.isArray ? 'text' : this.typeOf(column);
      return `${this.placeholder(params.length - 1)}::${type}[]`;
    });
    const ordinal = numbered ? this.escape('wb_n') : undefined;
    const v = this.escape(casts.some(Boolean) ? 'wb_r' : 'v');
    const unnest =
      `unnest(${arrays.join(', ')})${numbered ? ' WITH ORDINALITY' : ''} ` +
      `AS ${v}(${[...names, ...(ordinal ? [ordinal] : [])].join(', ')})`;
    if (!casts.some(Boolean)) return { sql: unnest, names, ordinal };
    const select = names.map((name, i) =>
      casts[i] ? `${v}.${name}::${casts[i]} AS ${name}` : `${v}.${name}`,
    );
    if (ordinal) select.push(`${v}.${ordinal}`);
    return {
      sql: `(SELECT ${select.join(', ')} FROM ${unnest}) AS ${this.escape('v')}`,
      names,
      ordinal,
    };
  }

  /**
   * The type to cast bound values to. Enums are cast to the type TypeORM
   * created for the column (`<table>_<column>_enum` or its `enumName`, in
   * the table's schema); `character` to `bpchar` and `bit` to `bit
   * varying`, as `character` and `bit` alone mean a length of 1 and a
   * cast to them truncates.
   */
  protected override typeOf(column: ColumnMetadata): string {
    const type = super.typeOf(column);
    if (type === 'enum') {
      const { schema, tableName } = this.dataSource.driver.parseTableName(column.entityMetadata);
      const name = column.enumName ?? `${tableName}_${column.databaseName.toLowerCase()}_enum`;
      return (schema ? `${schema}.${name}` : name)
        .split('.')
        .map((part) => this.escape(part))
        .join('.');
    }
    if (type === 'character') return 'bpchar';
    if (type === 'bit') return 'bit varying';
    return type;
  }

  /**
   * The UPDATE returns the positions it matched to a CTE, and the statement
   * returns only the positions it did not: usually nothing, so no row
   * travels back however large the batch.
   */
  protected keyedUpdateSql(update: string, source: RowSource, rows: number): string {
    const u = this.escape('wb_u');
    const n = this.escape('n');
    return (
      `WITH ${u} AS (${update} RETURNING ${this.escape('v')}.${source.ordinal}) ` +
      `SELECT ${n} FROM generate_series(1, ${rows}) AS ${this.escape('g')}(${n}) ` +
      `WHERE NOT EXISTS (SELECT 1 FROM ${u} WHERE ${u}.${source.ordinal} = ${n})`
    );
  }

  async unmatchedKeys(statement: KeyedStatement, run: RunStatement): Promise<RowKey[]> {
    const { records } = await run(statement);
    return records.map((record) => statement.keys[Number(record.n) - 1]);
  }

  /**
   * Enabled row triggers on INSERT, BEFORE it (`tgtype` bits ROW 1, BEFORE
   * 2, INSERT 4), of the table or of any of its partitions (an upsert's
   * row goes through the triggers of the partition it lands in).
   */
  override async upsertMayDiffer(entity: BufferedEntity, run: RunStatement): Promise<boolean> {
    const { records } = await run({
      sql:
        'WITH RECURSIVE parts(oid) AS (SELECT $1::regclass::oid UNION ' +
        'SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN parts p ON i.inhparent = p.oid) ' +
        'SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid IN (SELECT oid FROM parts) ' +
        "AND NOT tgisinternal AND tgenabled <> 'D' AND (tgtype & 7) = 7 LIMIT 1",
      params: [this.table(entity)],
    });
    return records.length > 0;
  }
}

/**
 * PostgreSQL's array literal of an array column's stored JSON text
 * (`'[[1,2],[3,null]]'` → `'{{"1","2"},{"3",NULL}}'`); elements are quoted,
 * so the cast to the column's type reads each as that type's text.
 */
export function arrayLiteral(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  const literal = (item: unknown): string => {
    if (item === null) return 'NULL';
    if (Array.isArray(item)) return `{${item.map(literal).join(',')}}`;
    const text = typeof item === 'object' ? JSON.stringify(item) : String(item);
    return `"${text.replace(/["\\]/g, '\\$&')}"`;
  };
  return literal(typeof value === 'string' ? JSON.parse(value) : value);
}
