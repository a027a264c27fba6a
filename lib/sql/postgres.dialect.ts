import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
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
    const arrays = columns.map((column, i) => {
      params.push(values[i]);
      return `${this.placeholder(params.length - 1)}::${this.typeOf(column)}[]`;
    });
    const ordinal = numbered ? this.escape('wb_n') : undefined;
    return {
      sql:
        `unnest(${arrays.join(', ')})${numbered ? ' WITH ORDINALITY' : ''} ` +
        `AS ${this.escape('v')}(${[...names, ...(ordinal ? [ordinal] : [])].join(', ')})`,
      names,
      ordinal,
    };
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
}
