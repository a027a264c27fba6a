import type { QueryRunner } from 'typeorm';
import type { RunStatement, Statement, StatementResult } from '../sql/sql-dialect.js';

/** Runs `statement` on `runner` (inside its transaction, if one is open), with the rows it returned and changed. */
export async function runStatement(
  runner: QueryRunner,
  statement: Statement,
): Promise<StatementResult> {
  const result = await runner.query(statement.sql, statement.params, true);
  return { records: result.records ?? [], affected: result.affected };
}

/**
 * Runs `statement` after a savepoint of the open transaction; resolves
 * whether the database took it. A statement it refuses is rolled back to
 * the savepoint, leaving the transaction as it was. If even that fails (a
 * deadlock ended the whole transaction on MySQL), the statement's own error
 * is thrown, so the flush sees why.
 */
export async function ranInSavepoint(run: RunStatement, statement: Statement): Promise<boolean> {
  await run({ sql: 'SAVEPOINT wb_attempt', params: [] });
  try {
    await run(statement);
    return true;
  } catch (error) {
    await run({ sql: 'ROLLBACK TO SAVEPOINT wb_attempt', params: [] }).catch(() => {
      throw error;
    });
    return false;
  }
}
