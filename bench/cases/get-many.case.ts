import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataSource, QueryRunner } from 'typeorm';
import type { WriteBufferStorageOptions } from '../../lib/index.js';
import type { DatabaseKind } from '../../test/support/databases.js';
import { Post } from '../../test/support/entities.js';
import { REDIS_URL } from '../../test/support/storages.js';
import type { BenchCase, BenchServer } from '../bench-case.js';
import { benchContext, seedRows } from '../bench-context.js';
import { alternate, seconds } from '../measure.js';

/** Rows one list read covers. */
const ROWS = 100;

/**
 * `getMany` of 100 rows against 100 `get()` calls awaited one after the
 * other (as a list endpoint would make them), every row with a pending
 * counter, on one database and storage.
 */
function getManyCase(
  id: string,
  kind: DatabaseKind,
  storageName: string,
  requires: BenchServer[],
  storage: (dir: string) => WriteBufferStorageOptions,
): BenchCase {
  return {
    id,
    title: `getMany of ${ROWS} rows vs ${ROWS} get() calls (${kind}, ${storageName})`,
    requires,
    async run(bench) {
      const dir = mkdtempSync(join(tmpdir(), 'wb-bench-get-many-'));
      const ctx = await benchContext(kind, storage(dir));
      try {
        await seedRows(ctx.dataSource, Post, ROWS * 10);
        const ids = Array.from({ length: ROWS }, (_, i) => i * 10 + 1);
        for (const id of ids) await ctx.buffer.increment(Post, id, 'views', 2);
        // Long enough a sample for both sides to run warm (the first is a warmup).
        const rounds = bench.quick ? 20 : 50;
        const statement = await statementOf(ctx.dataSource, () =>
          ctx.buffer.getMany(Post, ids, ['views']),
        );
        const s = await alternate(
          {
            baseline: async () => {
              const start = process.hrtime.bigint();
              for (let r = 0; r < rounds; r++) {
                for (const id of ids) await ctx.buffer.get(Post, id, 'views');
              }
              return (rounds * ROWS) / seconds(start);
            },
            value: async () => {
              const start = process.hrtime.bigint();
              for (let r = 0; r < rounds * 10; r++) await ctx.buffer.getMany(Post, ids, ['views']);
              return (rounds * 10 * ROWS) / seconds(start);
            },
            statement: async () => {
              const start = process.hrtime.bigint();
              for (let r = 0; r < rounds * 10; r++) await statement();
              return (rounds * 10 * ROWS) / seconds(start);
            },
          },
          { samples: bench.samples, warmup: 1 },
        );
        bench.record({
          id,
          title: `getMany of ${ROWS} rows vs ${ROWS} sequential get() calls (${kind}, ${storageName}), rows read per second`,
          unit: 'rows/s',
          ...s,
          target: 20,
        });
        bench.record({
          id: `${id}-statement`,
          title: `the statement getMany issues for ${ROWS} rows, run alone by the driver (no library), vs ${ROWS} sequential get() calls (${kind}, ${storageName}), rows read per second`,
          unit: 'rows/s',
          value: s.statement,
          baseline: s.baseline,
          note: 'the most a getMany issuing this statement could reach',
        });
      } finally {
        await ctx.close();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

const journal = (dir: string): WriteBufferStorageOptions => ({
  type: 'memory',
  journal: { path: join(dir, 'journal.mdb') },
});

export const getManySqlite = getManyCase(
  'get-many-sqlite',
  'sqlite',
  'memory + journal',
  [],
  journal,
);
export const getManyPostgres = getManyCase(
  'get-many-postgres',
  'postgres',
  'memory + journal',
  ['postgres'],
  journal,
);
export const getManyRedis = getManyCase('get-many-redis', 'sqlite', 'Redis', ['redis'], () => ({
  type: 'redis',
  url: REDIS_URL,
  keyPrefix: `wbbench-get-many-${process.pid}:`,
}));

/**
 * The database statement `read` issues (its first), as a function running
 * it again through the driver alone: better-sqlite3's prepared statement,
 * or one unnamed `pg` query as TypeORM sends it.
 */
async function statementOf(
  dataSource: DataSource,
  read: () => Promise<unknown>,
): Promise<() => Promise<unknown>> {
  let captured: { sql: string; params: unknown[] } | undefined;
  const query = dataSource.query.bind(dataSource);
  dataSource.query = ((sql: string, params?: unknown[], runner?: QueryRunner) => {
    captured ??= { sql, params: params ?? [] };
    return query(sql, params, runner);
  }) as DataSource['query'];
  try {
    await read();
  } finally {
    delete (dataSource as Partial<DataSource>).query;
  }
  const { sql, params } = captured!;
  const driver = dataSource.driver as unknown as {
    databaseConnection?: { prepare(sql: string): { all(...params: unknown[]): unknown } };
    master?: { query(sql: string, params: unknown[]): Promise<unknown> };
  };
  if (dataSource.options.type === 'better-sqlite3') {
    const prepared = driver.databaseConnection!.prepare(sql);
    return async () => prepared.all(...params);
  }
  return () => driver.master!.query(sql, params);
}
