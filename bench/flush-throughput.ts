import type { DatabaseKind } from '../test/support/databases.js';
import { ActivityLog, Post, User } from '../test/support/entities.js';
import type { TestApp } from '../test/support/test-app.js';
import type { BenchCase } from './bench-case.js';
import { benchContext, seedRows } from './bench-context.js';
import { alternate, seconds } from './measure.js';

/** One kind of buffered write: how to buffer it for every row, and the hand-written statement it is measured against. */
interface WriteKind {
  id: 'counters' | 'updates' | 'inserts';
  what: string;
  buffer(ctx: TestApp, ids: number[]): Promise<void>;
  /** The same rows written by hand in one multi-row statement (chunked on SQLite). */
  raw(ctx: TestApp, database: DatabaseKind, ids: number[]): Promise<void>;
}

/** SQLite's bound parameters per statement. */
const SQLITE_PARAMETERS = 32_766;

/** One transaction of multi-row statements over `ids`, each under SQLite's parameter limit. */
function sqliteChunks(
  ctx: TestApp,
  ids: number[],
  sql: (values: string) => string,
  row: (id: number) => unknown[],
) {
  return ctx.dataSource.transaction(async (m) => {
    const width = row(0).length;
    const size = Math.floor(SQLITE_PARAMETERS / width);
    const tuple = `(${Array(width).fill('?').join(', ')})`;
    for (let i = 0; i < ids.length; i += size) {
      const chunk = ids.slice(i, i + size);
      await m.query(sql(`VALUES ${chunk.map(() => tuple).join(',')}`), chunk.flatMap(row));
    }
  });
}

/** MariaDB rows per hand-written statement (as the flush's chunks). */
const MARIADB_ROWS = 5_000;

/** One transaction of multi-row statements over `ids`, `MARIADB_ROWS` rows each. */
function mariadbChunks(
  ctx: TestApp,
  ids: number[],
  sql: (rows: string) => string,
  row: (id: number) => unknown[],
) {
  return ctx.dataSource.transaction(async (m) => {
    const tuple = `(${Array(row(0).length).fill('?').join(', ')})`;
    for (let i = 0; i < ids.length; i += MARIADB_ROWS) {
      const chunk = ids.slice(i, i + MARIADB_ROWS);
      await m.query(sql(chunk.map(() => tuple).join(',')), chunk.flatMap(row));
    }
  });
}

/** A timestamp as SQLite stores TypeORM's `datetime`. */
const sqliteTimestamp = (at: Date) => at.toISOString().replace('T', ' ').replace('Z', '');

const KINDS: WriteKind[] = [
  {
    id: 'counters',
    what: 'counter rows',
    async buffer(ctx, ids) {
      for (const id of ids) await ctx.buffer.increment(Post, id, 'views');
    },
    async raw(ctx, database, ids) {
      if (database === 'postgres') {
        await ctx.dataSource.query(
          'UPDATE "post" AS t SET "views" = t."views" + v.d FROM unnest($1::int[], $2::int[]) AS v(id, d) WHERE t."id" = v.id',
          [ids, ids.map(() => 1)],
        );
      } else if (database === 'mariadb') {
        // MySQL's usual hand-written batch: rows that exist take the delta.
        await mariadbChunks(
          ctx,
          ids,
          (rows) =>
            `INSERT INTO \`post\` (\`id\`, \`views\`) VALUES ${rows} ON DUPLICATE KEY UPDATE \`views\` = \`views\` + VALUES(\`views\`)`,
          (id) => [id, 1],
        );
      } else {
        await sqliteChunks(
          ctx,
          ids,
          (values) =>
            `UPDATE "post" AS t SET "views" = t."views" + v.column2 FROM (${values}) AS v WHERE t."id" = v.column1`,
          (id) => [id, 1],
        );
      }
    },
  },
  {
    id: 'updates',
    what: 'update rows',
    async buffer(ctx, ids) {
      const at = new Date();
      for (const id of ids) await ctx.buffer.update(User, id, { lastSeenAt: at });
    },
    async raw(ctx, database, ids) {
      const at = new Date();
      if (database === 'postgres') {
        await ctx.dataSource.query(
          'UPDATE "app_user" AS t SET "lastSeenAt" = v.at FROM unnest($1::int[], $2::timestamp[]) AS v(id, at) WHERE t."id" = v.id',
          [ids, ids.map(() => at)],
        );
      } else if (database === 'mariadb') {
        await mariadbChunks(
          ctx,
          ids,
          (rows) =>
            `INSERT INTO \`app_user\` (\`id\`, \`lastSeenAt\`) VALUES ${rows} ON DUPLICATE KEY UPDATE \`lastSeenAt\` = VALUES(\`lastSeenAt\`)`,
          (id) => [id, at],
        );
      } else {
        await sqliteChunks(
          ctx,
          ids,
          (values) =>
            `UPDATE "app_user" AS t SET "lastSeenAt" = v.column2 FROM (${values}) AS v WHERE t."id" = v.column1`,
          (id) => [id, sqliteTimestamp(at)],
        );
      }
    },
  },
  {
    id: 'inserts',
    what: 'inserts',
    async buffer(ctx, ids) {
      const at = new Date();
      await ctx.buffer.insert(
        ActivityLog,
        ids.map((id) => ({ postId: id, at, ip: '127.0.0.1' })),
      );
    },
    async raw(ctx, database, ids) {
      const at = new Date();
      if (database === 'postgres') {
        await ctx.dataSource.query(
          'INSERT INTO "activity_log" ("postId", "at", "ip") SELECT * FROM unnest($1::int[], $2::timestamp[], $3::varchar[])',
          [ids, ids.map(() => at), ids.map(() => '127.0.0.1')],
        );
      } else if (database === 'mariadb') {
        await mariadbChunks(
          ctx,
          ids,
          (rows) => `INSERT INTO \`activity_log\` (\`postId\`, \`at\`, \`ip\`) VALUES ${rows}`,
          (id) => [id, at, '127.0.0.1'],
        );
      } else {
        await sqliteChunks(
          ctx,
          ids,
          (values) => `INSERT INTO "activity_log" ("postId", "at", "ip") ${values}`,
          (id) => [id, sqliteTimestamp(at), '127.0.0.1'],
        );
      }
    },
  },
];

/**
 * A case that flushes `rows` buffered counters, updates and inserts into
 * one table each, against the same rows written by hand in one batch
 * statement; it also records how many statements each flush ran.
 */
export function flushCase(database: DatabaseKind, rows: number): BenchCase {
  const size = rows >= 1000 ? `${rows / 1000}k` : String(rows);
  const id = `flush-${database}-${size}`;
  const count = rows.toLocaleString('en-US');
  return {
    id,
    title: `flush of ${count} rows, ${database}`,
    requires: database === 'sqlite' ? [] : [database],
    slow: rows > 10_000,
    async run(bench) {
      const ctx = await benchContext(database);
      try {
        await seedRows(ctx.dataSource, Post, rows);
        await seedRows(ctx.dataSource, User, rows);
        const ids = Array.from({ length: rows }, (_, i) => i + 1);
        // Short flushes are at the mercy of the JIT and the GC: more rounds, two of them unrecorded.
        const rounds =
          rows <= 10_000
            ? { samples: bench.quick ? 7 : 15, warmup: 2 }
            : { samples: bench.samples, warmup: 1 };
        for (const kind of KINDS) {
          let statements = 0;
          const s = await alternate(
            {
              baseline: async () => {
                const start = process.hrtime.bigint();
                await kind.raw(ctx, database, ids);
                return rows / seconds(start);
              },
              value: async () => {
                await kind.buffer(ctx, ids);
                ctx.queries.reset();
                const start = process.hrtime.bigint();
                await ctx.buffer.flush();
                const rate = rows / seconds(start);
                statements = ctx.queries.writes().length;
                return rate;
              },
            },
            rounds,
          );
          bench.record({
            id: `${id}-${kind.id}`,
            title: `flush of ${count} ${kind.what}, ${database}, vs one hand-written statement`,
            unit: 'rows/s',
            ...s,
            target: 0.7,
          });
          const perStatement = statements > 0 ? Math.ceil(rows / statements) : rows;
          bench.record({
            id: `${id}-${kind.id}-statements`,
            title: `statements for ${count} ${kind.what} in 1 table, ${database}`,
            unit: statements === 1 ? 'statement' : 'statements',
            value: { median: statements, min: statements, max: statements },
            targetText: `O(T + K/chunk), ${perStatement.toLocaleString('en-US')} rows per statement`,
          });
        }
      } finally {
        await ctx.close();
      }
    },
  };
}
