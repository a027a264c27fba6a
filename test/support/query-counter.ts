import type { Logger as TypeOrmLogger } from 'typeorm';

/** A flush's keyed UPDATE (PostgreSQL wraps it in a CTE). */
export const UPDATE_STATEMENT = /^(WITH\s+\S+\s+AS\s+\()?UPDATE\b/;

/** A TypeORM logger that records every statement the data source runs. */
export class QueryCounter implements TypeOrmLogger {
  readonly queries: string[] = [];

  logQuery(query: string) {
    this.queries.push(query);
  }
  logQueryError() {}
  logQuerySlow() {}
  logSchemaBuild() {}
  logMigration() {}
  log() {}

  reset() {
    this.queries.length = 0;
  }

  /** Statements that write data (INSERT/UPDATE, also inside a CTE) to tables other than the ledger. */
  writes(): string[] {
    return this.queries.filter(
      (q) =>
        /^\s*(WITH\s+\S+\s+AS\s+\(\s*)?(INSERT|UPDATE)\b/i.test(q) &&
        !/write_buffer_ledger/.test(q),
    );
  }
}
