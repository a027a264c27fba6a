import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import { SqlDialect, type RowSource } from './sql-dialect.js';

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

  protected rowSource(columns: ColumnMetadata[], rows: unknown[][], params: unknown[]): RowSource {
    const names = columns.map((_, i) => this.escape(`wb_c${i}`));
    const arrays = columns.map((column, i) => {
      params.push(rows.map((row) => row[i]));
      return `${this.placeholder(params.length - 1)}::${this.typeOf(column)}[]`;
    });
    return {
      sql: `unnest(${arrays.join(', ')}) AS ${this.escape('v')}(${names.join(', ')})`,
      names,
    };
  }
}
