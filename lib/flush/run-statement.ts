import type { QueryRunner } from 'typeorm';
import type { Statement, StatementResult } from '../sql/sql-dialect.js';

/** Runs `statement` on `runner` (inside its transaction, if one is open), with the rows it returned and changed. */
export async function runStatement(
  runner: QueryRunner,
  statement: Statement,
): Promise<StatementResult> {
  const result = await runner.query(statement.sql, statement.params, true);
  return { records: result.records ?? [], affected: result.affected };
}
