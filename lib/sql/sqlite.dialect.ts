import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import { SqlDialect, type RowSource } from './sql-dialect.js';

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

  protected rowSource(columns: ColumnMetadata[], rows: unknown[][], params: unknown[]): RowSource {
    const tuple = `(${columns.map(() => '?').join(', ')})`;
    for (const row of rows) params.push(...row);
    return {
      sql: `(VALUES ${rows.map(() => tuple).join(', ')}) AS ${this.escape('v')}`,
      names: columns.map((_, i) => `column${i + 1}`),
    };
  }
}
