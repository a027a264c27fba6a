import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import type { DataSourceOptions } from 'typeorm';

export type DatabaseKind = 'sqlite' | 'postgres' | 'mariadb';

/** PostgreSQL server the tests use (test/servers.sh starts one on this port). */
export const POSTGRES_URL =
  process.env.WB_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:54329/postgres';

let postgresUp: Promise<boolean> | undefined;

/** Whether the test PostgreSQL answers; in CI a missing server fails the run. */
export function postgresAvailable(): Promise<boolean> {
  postgresUp ??= (async () => {
    const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      await client.end();
      return true;
    } catch (error) {
      if (process.env.CI) {
        throw new Error(
          `PostgreSQL is required in CI but ${POSTGRES_URL} is unreachable: ${(error as Error).message}`,
        );
      }
      console.warn(
        `\n*** SKIPPING PostgreSQL tests: ${POSTGRES_URL} is unreachable (${(error as Error).message}).\n` +
          `*** Start the test servers with: eval "$(test/servers.sh start)"\n`,
      );
      return false;
    }
  })();
  return postgresUp;
}

/** MariaDB server the tests use (test/servers.sh starts one on this port). */
export const MARIADB_URL = process.env.WB_TEST_MARIADB_URL ?? 'mysql://root@127.0.0.1:33306/mysql';

let mariadbUp: Promise<boolean> | undefined;

/** Whether the test MariaDB answers; in CI a missing server fails the run. */
export function mariadbAvailable(): Promise<boolean> {
  mariadbUp ??= (async () => {
    try {
      const connection = await mysql.createConnection({ uri: MARIADB_URL, connectTimeout: 3000 });
      await connection.end();
      return true;
    } catch (error) {
      if (process.env.CI) {
        throw new Error(
          `MariaDB is required in CI but ${MARIADB_URL} is unreachable: ${(error as Error).message}`,
        );
      }
      console.warn(
        `\n*** SKIPPING MariaDB tests: ${MARIADB_URL} is unreachable (${(error as Error).message}).\n` +
          `*** Start the test servers with: eval "$(test/servers.sh start)"\n`,
      );
      return false;
    }
  })();
  return mariadbUp;
}

/** The databases every service-level test runs against. */
export async function databaseKinds(): Promise<DatabaseKind[]> {
  const kinds: DatabaseKind[] = ['sqlite'];
  if (await postgresAvailable()) kinds.push('postgres');
  if (await mariadbAvailable()) kinds.push('mariadb');
  return kinds;
}

/** A fresh, empty database of one kind; `drop()` removes it. */
export interface TestDatabase {
  kind: DatabaseKind;
  options(
    extra: Partial<DataSourceOptions> & { entities: NonNullable<DataSourceOptions['entities']> },
  ): DataSourceOptions;
  drop(): Promise<void>;
}

export async function createTestDatabase(kind: DatabaseKind): Promise<TestDatabase> {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'wb-sqlite-'));
    return {
      kind,
      options: (extra) =>
        ({
          type: 'better-sqlite3',
          database: join(dir, 'test.sqlite'),
          synchronize: true,
          ...extra,
        }) as DataSourceOptions,
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const name = `wb_test_${randomBytes(6).toString('hex')}`;
  if (kind === 'mariadb') {
    await mariadbAdmin(`CREATE DATABASE ${name} CHARACTER SET utf8mb4`);
    const url = new URL(MARIADB_URL);
    url.pathname = `/${name}`;
    return {
      kind,
      options: (extra) =>
        ({
          type: 'mariadb',
          url: url.toString(),
          synchronize: true,
          ...extra,
        }) as DataSourceOptions,
      drop: () => mariadbAdmin(`DROP DATABASE IF EXISTS ${name}`),
    };
  }
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    kind,
    options: (extra) =>
      ({ type: 'postgres', url: url.toString(), synchronize: true, ...extra }) as DataSourceOptions,
    drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

/** Runs one statement on the test server's maintenance database (or `url`). */
export async function admin(sql: string, url = POSTGRES_URL) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Runs one statement on the test MariaDB server. */
export async function mariadbAdmin(sql: string, url = MARIADB_URL) {
  const connection = await mysql.createConnection({ uri: url });
  try {
    await connection.query(sql);
  } finally {
    await connection.end();
  }
}
