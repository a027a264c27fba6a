import 'reflect-metadata';
import { Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { getDataSourceToken, TypeOrmModule } from '@nestjs/typeorm';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { DataSource, DataSourceOptions } from 'typeorm';
import { BufferService, WriteBufferModule, type WriteBufferStorageOptions } from '../lib/index.js';
import { admin } from '../test/support/databases.js';
import { QueryCounter } from '../test/support/query-counter.js';
import { ActivityLog, ENTITIES, Post, User } from '../test/support/entities.js';

export { ActivityLog, Post, User };

const TEST_POSTGRES_URL =
  process.env.WB_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:54329/postgres';

/**
 * The test server runs with `synchronous_commit=off` (tests kill the app,
 * never the database); benchmarks commit durably, as production does.
 */
export const POSTGRES_URL = withOptions(TEST_POSTGRES_URL, '-c synchronous_commit=on');

function withOptions(url: string, options: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('options', options);
  return parsed.toString();
}
export const REDIS_URL = process.env.WB_TEST_REDIS_URL ?? 'redis://127.0.0.1:63799';

export interface BenchContext {
  app: INestApplicationContext;
  buffer: BufferService;
  dataSource: DataSource;
  statements: QueryCounter;
  close(): Promise<void>;
}

/** A Nest application context with TypeORM on a fresh database and the buffer (no cron). */
export async function benchContext(
  database: 'sqlite' | 'postgres',
  storage: WriteBufferStorageOptions = { type: 'memory' },
): Promise<BenchContext> {
  const statements = new QueryCounter();
  let options: DataSourceOptions;
  let drop = async () => {};
  if (database === 'postgres') {
    const name = `wb_bench_${Date.now().toString(36)}${Math.floor(Math.random() * 1e6)}`;
    await admin(`CREATE DATABASE ${name}`);
    const url = new URL(POSTGRES_URL);
    url.pathname = `/${name}`;
    options = { type: 'postgres', url: url.toString() };
    drop = () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } else {
    options = {
      type: 'better-sqlite3',
      database: join(mkdtempSync(join(tmpdir(), 'wb-bench-')), 'bench.sqlite'),
    };
  }
  @Module({
    imports: [
      TypeOrmModule.forRoot({
        ...options,
        entities: ENTITIES,
        synchronize: true,
        logger: statements,
        logging: true,
      }),
      WriteBufferModule.forRoot({
        storage,
        flush: { cron: false, maxPending: 0, maxBatchRows: 1_000_000 },
      }),
    ],
  })
  class BenchModule {}
  const app = await NestFactory.createApplicationContext(BenchModule, { logger: ['error'] });
  return {
    app,
    buffer: app.get(BufferService),
    dataSource: app.get<DataSource>(getDataSourceToken()),
    statements,
    close: async () => {
      await app.close();
      await drop();
    },
  };
}

export async function postgresUp(): Promise<boolean> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 2000 });
  return client.connect().then(
    () => client.end().then(() => true),
    () => false,
  );
}

/** Inserts rows 1..n of an entity keyed by `id` (chunked: TypeORM's multi-row insert has its own limits). */
export async function seedRows(
  dataSource: DataSource,
  entity: typeof Post | typeof User,
  n: number,
) {
  for (let from = 0; from < n; from += 500) {
    const rows = Array.from({ length: Math.min(500, n - from) }, (_, i) => ({ id: from + i + 1 }));
    await dataSource.getRepository(entity).insert(rows);
  }
}
