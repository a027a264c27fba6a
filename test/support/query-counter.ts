import type { Logger as TypeOrmLogger } from 'typeorm';

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

  /** Statements that write data (INSERT/UPDATE) to tables other than the ledger. */
  writes(): string[] {
    return this.queries.filter(
      (q) => /^\s*(INSERT|UPDATE)\b/i.test(q) && !/write_buffer_ledger/.test(q),
    );
  }
}
