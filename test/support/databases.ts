import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { DataSourceOptions } from 'typeorm';

export type DatabaseKind = 'sqlite' | 'postgres';

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

/** The databases every service-level test runs against. */
export async function databaseKinds(): Promise<DatabaseKind[]> {
  return (await postgresAvailable()) ? ['sqlite', 'postgres'] : ['sqlite'];
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
