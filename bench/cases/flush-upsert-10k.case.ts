import { Module } from '@nestjs/common';
import { WriteBufferModule } from '../../lib/index.js';
import type { DatabaseKind } from '../../test/support/databases.js';
import { ENTITIES, PageDailyViews } from '../../test/support/entities.js';
import type { TestApp } from '../../test/support/test-app.js';
import type { BenchCase } from '../bench-case.js';
import { benchContext } from '../bench-context.js';
import { alternate, seconds } from '../measure.js';

const ROWS = 10_000;
/** Rows per hand-written statement: SQLite's parameter limit over 3 columns; MariaDB as the flush chunks. */
const CHUNK: Record<DatabaseKind, number> = { sqlite: 10_922, postgres: ROWS, mariadb: 5_000 };

@Module({
  imports: [WriteBufferModule.forFeature([{ entity: PageDailyViews, onMissingRow: 'insert' }])],
})
class UpsertFeature {}

/** The hand-written upsert of `pages` views on `day`, chunked, in one transaction. */
function byHand(ctx: TestApp, database: DatabaseKind, day: string, pages: number[]) {
  return ctx.dataSource.transaction(async (m) => {
    if (database === 'postgres') {
      await m.query(
        'INSERT INTO "page_daily_views" ("day", "pageId", "views") SELECT * FROM unnest($1::varchar[], $2::int[], $3::int[]) ' +
          'ON CONFLICT ("day", "pageId") DO UPDATE SET "views" = "page_daily_views"."views" + excluded."views"',
        [pages.map(() => day), pages, pages.map(() => 1)],
      );
      return;
    }
    for (let i = 0; i < pages.length; i += CHUNK[database]) {
      const chunk = pages.slice(i, i + CHUNK[database]);
      const values = chunk.map(() => '(?, ?, ?)').join(', ');
      const params = chunk.flatMap((page) => [day, page, 1]);
      await m.query(
        database === 'mariadb'
          ? `INSERT INTO \`page_daily_views\` (\`day\`, \`pageId\`, \`views\`) VALUES ${values} ` +
              'ON DUPLICATE KEY UPDATE `views` = `views` + VALUES(`views`)'
          : `INSERT INTO "page_daily_views" ("day", "pageId", "views") VALUES ${values} ` +
              'ON CONFLICT ("day", "pageId") DO UPDATE SET "views" = "page_daily_views"."views" + excluded."views"',
        params,
      );
    }
  });
}

/**
 * A flush of 10,000 upsert counters (`onMissingRow: 'insert'`), half of
 * them rows that exist and half new, against the same upsert written by
 * hand (chunked `INSERT … ON CONFLICT DO UPDATE`, MariaDB `ON DUPLICATE KEY
 * UPDATE`). Each round counts into a day of its own whose first half of
 * pages is seeded beforehand, untimed.
 */
function upsertCase(database: DatabaseKind): BenchCase {
  const id = `flush-upsert-10k-${database}`;
  return {
    id,
    title: `flush of 10,000 upsert counters (half new), ${database}`,
    requires: database === 'sqlite' ? [] : [database],
    async run(bench) {
      const ctx = await benchContext(
        database,
        { type: 'memory' },
        { entities: [...ENTITIES, PageDailyViews], imports: [{ module: UpsertFeature }] },
      );
      try {
        const pages = Array.from({ length: ROWS }, (_, i) => i + 1);
        let days = 0;
        /** A fresh day with pages 1..5,000 seeded. */
        const freshDay = async () => {
          const day = `d${++days}`;
          const repository = ctx.dataSource.getRepository(PageDailyViews);
          for (let from = 0; from < ROWS / 2; from += 500) {
            await repository.insert(
              pages.slice(from, from + 500).map((pageId) => ({ day, pageId, views: 1 })),
            );
          }
          return day;
        };
        let statements = 0;
        const s = await alternate(
          {
            baseline: async () => {
              const day = await freshDay();
              const start = process.hrtime.bigint();
              await byHand(ctx, database, day, pages);
              return ROWS / seconds(start);
            },
            value: async () => {
              const day = await freshDay();
              for (const pageId of pages) {
                await ctx.buffer.increment(PageDailyViews, { day, pageId }, 'views');
              }
              ctx.queries.reset();
              const start = process.hrtime.bigint();
              const report = await ctx.buffer.flush();
              const rate = ROWS / seconds(start);
              statements = ctx.queries.writes().length;
              if (report.incremented !== ROWS) throw new Error(`flushed ${report.incremented}`);
              return rate;
            },
          },
          { samples: bench.quick ? 7 : 15, warmup: 2 },
        );
        bench.record({
          id,
          title: `flush of 10,000 upsert counters (half new), ${database}, vs the upsert written by hand`,
          unit: 'rows/s',
          ...s,
          target: 0.7,
          note: `${statements} statement(s) per flush`,
        });
      } finally {
        await ctx.close();
      }
    },
  };
}

export const flushUpsertSqlite10k = upsertCase('sqlite');
export const flushUpsertPostgres10k = upsertCase('postgres');
export const flushUpsertMariadb10k = upsertCase('mariadb');
