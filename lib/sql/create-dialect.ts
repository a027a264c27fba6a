import type { DataSource } from 'typeorm';
import { WriteBufferConfigError } from '../errors.js';
import { MysqlDialect } from './mysql.dialect.js';
import { PostgresDialect } from './postgres.dialect.js';
import type { SqlDialect } from './sql-dialect.js';
import { SqliteDialect } from './sqlite.dialect.js';

/** The SQL dialect of a data source's driver. */
export function createDialect(name: string, dataSource: DataSource): SqlDialect {
  switch (dataSource.options.type) {
    case 'postgres':
      return new PostgresDialect(dataSource);
    case 'better-sqlite3':
      return new SqliteDialect(dataSource);
    case 'mysql':
    case 'mariadb':
      return new MysqlDialect(dataSource);
    default:
      throw WriteBufferConfigError.unsupportedDriver(name, dataSource.options.type, [
        'postgres',
        'better-sqlite3',
        'mysql',
        'mariadb',
      ]);
  }
}
