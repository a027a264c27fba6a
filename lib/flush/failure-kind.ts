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
/**
 * MySQL/MariaDB server errnos (1000-1999) that are about the server or the
 * session: too many connections (1040), out of memory or disk (1021, 1037,
 * 1038, 1041), engine error (1030), shutdown (1053), network (1158-1161),
 * commit/rollback failed (1180, 1181), read-only server (1223, 1290, 1792,
 * 1836), lock wait timeout (1205), deadlock (1213), interrupted or timed
 * out (1317, 1969), re-prepare (1615), connection killed (1927). Client
 * errnos (2000-2999: lost connection 2006/2013, cannot connect 2002/2003)
 * and MySQL 8's idle disconnect (4031) are transient as every errno outside
 * the data ones.
 */
const MYSQL_TRANSIENT = new Set([
  1021, 1030, 1037, 1038, 1040, 1041, 1053, 1158, 1159, 1160, 1161, 1180, 1181, 1205, 1213, 1223,
  1290, 1317, 1615, 1792, 1836, 1927, 1969,
]);
/**
 * Data errnos outside 1000-1999: CHECK constraint failed (MySQL 3819,
 * MariaDB 4025), invalid JSON (3140, 3141, 4038), value out of range for
 * a function (3156).
 */
const MYSQL_DATA = new Set([3140, 3141, 3156, 3819, 4025, 4038]);

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
    if (typeof errno !== 'number') return 'transient';
    return (errno >= 1000 && errno < 2000 && !MYSQL_TRANSIENT.has(errno)) || MYSQL_DATA.has(errno)
      ? 'data'
      : 'transient';
  }
  return 'transient';
}
