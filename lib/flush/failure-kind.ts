import { QueryFailedError } from 'typeorm';

/**
 * Whether a failed flush should be retried as it is (`transient`: the
 * database was unreachable, busy or aborted the transaction) or is caused by
 * the data itself (`data`: constraint violations, bad values, a schema that
 * does not match), which retrying can never fix.
 */
export type FailureKind = 'transient' | 'data';

/** PostgreSQL SQLSTATE classes that are about the server or the session, not the data. */
const POSTGRES_TRANSIENT = /^(08|40|53|57|58)|^55(000|006|P03)$/;
/** SQLite result codes that mean "try again later". */
const SQLITE_TRANSIENT = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|PROTOCOL|NOMEM|INTERRUPT)/;
/** MySQL errnos: deadlock, lock wait timeout, too many connections, lost connection. */
const MYSQL_TRANSIENT = new Set([1040, 1205, 1213, 2002, 2003, 2006, 2013, 1927]);

/**
 * Whether `error`, thrown while applying a batch through a data source of
 * TypeORM driver type `driver`, is `transient` or about the `data`. Only
 * a statement the database refused with a code known to be about the data
 * is `data`; anything else (drivers it does not know included) is
 * `transient`, so the batch stays in flight rather than being set aside.
 */
export function classifyFailure(driver: string, error: unknown): FailureKind {
  // Only a statement the database ran and refused can be about the data;
  // failing to connect (or losing the connection) never is.
  if (!(error instanceof QueryFailedError)) return 'transient';
  const cause = (error as { driverError?: unknown })?.driverError ?? error;
  const code = (cause as { code?: unknown })?.code;
  const errno = (cause as { errno?: unknown })?.errno;
  if (driver === 'postgres') {
    return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !POSTGRES_TRANSIENT.test(code)
      ? 'data'
      : 'transient';
  }
  if (driver === 'better-sqlite3') {
    return typeof code === 'string' && code.startsWith('SQLITE_') && !SQLITE_TRANSIENT.test(code)
      ? 'data'
      : 'transient';
  }
  if (driver === 'mysql' || driver === 'mariadb') {
    return typeof errno === 'number' && errno >= 1000 && errno < 2000 && !MYSQL_TRANSIENT.has(errno)
      ? 'data'
      : 'transient';
  }
  return 'transient';
}
