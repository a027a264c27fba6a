import { Logger } from '@nestjs/common';
import { isDeepStrictEqual } from 'node:util';
import { DataSource, QueryFailedError, type DataSourceOptions, type QueryRunner } from 'typeorm';
import type { QueryResult } from 'typeorm/query-runner/QueryResult.js';
import { FlushError } from '../errors.js';

/** better-sqlite3's default busy timeout, which TypeORM passes on. */
const DEFAULT_SQLITE_TIMEOUT_MS = 5000;
/** First and longest wait between two attempts at SQLite's write lock. */
const FIRST_WAIT_MS = 5;
const LONGEST_WAIT_MS = 100;

/** The data source a flusher runs its transactions on, and how to let it go. */
export interface FlushConnection {
  readonly dataSource: DataSource;
  close(): Promise<void>;
}

/**
 * Opens the connection the flushes of `appDataSource` run on, so a flush
 * never shares a connection or a transaction with the application.
 *
 * - PostgreSQL: the app's data source. Every query runner takes its own
 *   pooled connection, so the flush's transaction is its own already.
 * - MySQL/MariaDB: the app's data source (each query runner takes its own
 *   pooled connection), unless its `flags` turn off `FOUND_ROWS`: then a
 *   data source of its own that asks for found rows.
 * - better-sqlite3: TypeORM keeps one connection per data source and turns
 *   a nested transaction into a savepoint, so a flush running while the app
 *   holds a transaction would become part of it (and vanish with its
 *   rollback), and an app write made during a flush would vanish with the
 *   flush's. The flush gets a data source of its own on the same file
 *   (same options, entities, logger and subscribers; no schema changes).
 *
 * SQLite has one write lock per database. better-sqlite3 waits for it by
 * sleeping the whole thread (its `timeout`), which in one process would keep
 * the app from ever committing the transaction it waits for. So the flush's
 * connection never waits inside SQLite (busy timeout 0): when the lock is
 * taken, it rolls back what it holds, waits with timers (the event loop
 * keeps running, the app can commit), runs the transaction's statements
 * again and carries on, for at most the data source's `timeout` (default
 * 5000 ms) per statement. A statement that returns something else the
 * second time, or a lock still taken after that time, fails the flush as a
 * transient error: the batch stays in flight and the ledger keeps the retry
 * exactly-once. The same holds for a COMMIT that other connections' readers
 * block (rollback-journal mode): the flush never keeps a lock while it waits.
 *
 * The journal mode is left as the app configured it. With TypeORM's
 * `enableWAL: true`, readers never block the flush's commit nor the other
 * way round; in SQLite's default rollback-journal mode, a transaction of the
 * app that has read makes the flush wait until it ends.
 *
 * An in-memory database (`:memory:`) exists only on its one connection:
 * there the flush has to share the app's, and a warning says so.
 */
export async function openFlushConnection(
  name: string,
  appDataSource: DataSource,
): Promise<FlushConnection> {
  const options = appDataSource.options;
  if ((options.type === 'mysql' || options.type === 'mariadb') && withoutFoundRows(options.flags)) {
    // The flush tells a missing row from one it set to its current value by
    // the rows an UPDATE matched, which MySQL reports only to a connection
    // that asks for found rows (mysql2 does unless `flags` say otherwise).
    const dataSource = new DataSource({
      ...options,
      flags: [
        ...flagList(options.flags).filter((flag) => !/^-FOUND_ROWS$/i.test(flag)),
        'FOUND_ROWS',
      ],
      synchronize: false,
      migrationsRun: false,
      dropSchema: false,
      cache: false,
    } as DataSourceOptions);
    await dataSource.initialize();
    return {
      dataSource,
      close: async () => {
        if (dataSource.isInitialized) await dataSource.destroy();
      },
    };
  }
  if (options.type !== 'better-sqlite3') {
    return { dataSource: appDataSource, close: async () => undefined };
  }
  if (!options.database || options.database === ':memory:') {
    new Logger('WriteBuffer').warn(
      `Data source '${name}' is an in-memory SQLite database, which exists on one connection only: ` +
        `flushes share it with the application, and a flush that runs while the application holds a transaction becomes part of it. ` +
        `Use a database file to keep them apart.`,
    );
    return { dataSource: appDataSource, close: async () => undefined };
  }
  const dataSource = new DataSource({
    ...options,
    synchronize: false,
    migrationsRun: false,
    dropSchema: false,
    cache: false,
    timeout: 0,
  });
  await dataSource.initialize();
  const driver = dataSource.driver as unknown as SqliteDriver;
  // A `prepareDatabase` hook may have set a busy timeout of its own.
  driver.databaseConnection.pragma('busy_timeout = 0');
  const createQueryRunner = driver.createQueryRunner.bind(driver);
  const guarded = new WeakSet<QueryRunner>();
  driver.createQueryRunner = (mode) => {
    const runner = createQueryRunner(mode);
    if (!guarded.has(runner)) {
      guarded.add(runner);
      waitForLockAsynchronously(
        runner,
        () => driver.databaseConnection.inTransaction,
        options.timeout ?? DEFAULT_SQLITE_TIMEOUT_MS,
      );
    }
    return runner;
  };
  return {
    dataSource,
    close: async () => {
      if (dataSource.isInitialized) await dataSource.destroy();
    },
  };
}

/** mysql2's `flags` option (an array, or a comma-separated string) as a list. */
function flagList(flags: unknown): string[] {
  if (Array.isArray(flags)) return flags.map(String);
  return typeof flags === 'string' ? flags.split(',').map((flag) => flag.trim()) : [];
}

function withoutFoundRows(flags: unknown): boolean {
  return flagList(flags).some((flag) => /^-FOUND_ROWS$/i.test(flag));
}

interface SqliteDriver {
  databaseConnection: { pragma(source: string): unknown; inTransaction: boolean };
  createQueryRunner(mode: 'master' | 'slave'): QueryRunner;
}

interface Step {
  sql: string;
  params?: unknown[];
  result: QueryResult;
}

/**
 * Makes `runner` (busy timeout 0) wait for SQLite's write lock with timers
 * instead of failing at once: see `openFlushConnection`.
 */
function waitForLockAsynchronously(
  runner: QueryRunner,
  inTransaction: () => boolean,
  budget: number,
) {
  const run = runner.query.bind(runner) as (
    sql: string,
    params: unknown[] | undefined,
    structured: true,
  ) => Promise<QueryResult>;
  /** Statements of the open transaction, to run again after waiting; null outside one. */
  let steps: Step[] | null = null;
  /** Whether this runner began a transaction it has not ended yet. */
  let open = false;

  /** Rolls back, waits, begins again and replays `steps`; throws `error` once `deadline` passed. */
  async function wait(deadline: number, error: unknown, delay: number): Promise<void> {
    for (; ; delay = Math.min(delay * 2, LONGEST_WAIT_MS)) {
      if (inTransaction()) await run('ROLLBACK', undefined, true);
      const late = Date.now() + delay > deadline;
      if (!late) await new Promise((resolve) => setTimeout(resolve, delay));
      // TypeORM still counts the transaction as open: keep one open for its COMMIT or ROLLBACK.
      await run('BEGIN TRANSACTION', undefined, true);
      if (late) throw error;
      try {
        for (const step of steps!) {
          const result = await run(step.sql, step.params, true);
          if (
            result.affected !== step.result.affected ||
            !isDeepStrictEqual(result.records, step.result.records)
          ) {
            throw FlushError.replayDiverged(error);
          }
        }
        return;
      } catch (failure) {
        if (!isBusy(failure)) {
          // A replay cut short must not be committed, nor rolled back to
          // one of its savepoints and carried on: an empty transaction
          // (no savepoint) is left for the caller's ROLLBACK.
          await run('ROLLBACK', undefined, true);
          await run('BEGIN TRANSACTION', undefined, true);
          throw failure;
        }
        error = failure;
      }
    }
  }

  const query = async (sql: string, params?: unknown[], structured?: boolean) => {
    const statement = sql.trimStart().slice(0, 20).toUpperCase();
    const deadline = Date.now() + budget;
    for (let delay = FIRST_WAIT_MS; ; delay = Math.min(delay * 2, LONGEST_WAIT_MS)) {
      try {
        const result = await run(sql, params, true);
        if (statement.startsWith('BEGIN')) {
          open = true;
          steps = [];
        } else if (/^(COMMIT|END)\b/.test(statement) || /^ROLLBACK(?!\s+TO\b)/.test(statement)) {
          open = false;
          steps = null;
        } else if (open) {
          // Savepoints too: a statement SQLite refused is not a step, so
          // replaying `SAVEPOINT` and `ROLLBACK TO` around it comes to the same.
          steps?.push({ sql, params, result });
        }
        return structured ? result : result.raw;
      } catch (error) {
        if (!isBusy(error)) throw error;
        if (open) {
          await wait(deadline, error, delay);
        } else {
          // A statement on its own held nothing once it failed: run it again later.
          if (Date.now() + delay > deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, delay));
        }
      }
    }
  };
  runner.query = query as QueryRunner['query'];
}

/** SQLITE_BUSY and its extended codes: another connection holds the lock. */
function isBusy(error: unknown): boolean {
  const code = (error as QueryFailedError & { driverError?: { code?: unknown } }).driverError?.code;
  return error instanceof QueryFailedError && typeof code === 'string' && /^SQLITE_BUSY/.test(code);
}
