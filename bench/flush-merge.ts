import { Module, type DynamicModule } from '@nestjs/common';
import { WriteBufferModule } from '../lib/index.js';
import { createTestDatabase, type DatabaseKind } from '../test/support/databases.js';
import { User } from '../test/support/entities.js';
import { createTestApp, type TestApp } from '../test/support/test-app.js';
import type { BenchCase } from './bench-case.js';
import { seedRows } from './bench-context.js';
import { alternate, seconds } from './measure.js';

/** The module that makes `User.lastSeenAt` merge with max. */
function mergeModule(): DynamicModule {
  @Module({
    imports: [WriteBufferModule.forFeature([{ entity: User, merge: { lastSeenAt: 'max' } }])],
  })
  class MergeModule {}
  return { module: MergeModule };
}

/**
 * A case that flushes `rows` buffered updates of `User.lastSeenAt` merged
 * with max (`forFeature` `merge`), against the same updates with last
 * write wins, both on one database; it also records the statements of
 * the merged flush.
 */
export function flushMergeCase(database: DatabaseKind, rows: number): BenchCase {
  const id = `flush-merge-${database}-${rows / 1000}k`;
  const count = rows.toLocaleString('en-US');
  return {
    id,
    title: `flush of ${count} max-merged updates, ${database}`,
    requires: database === 'sqlite' ? [] : [database],
    async run(bench) {
      const db = await createTestDatabase(database);
      const apps: TestApp[] = [];
      try {
        const options = { flush: { maxPending: 0, maxBatchRows: 1_000_000 } };
        const merged = await createTestApp(database, options, {
          database: db,
          imports: [mergeModule()],
        });
        apps.push(merged);
        const plain = await createTestApp(database, options, { database: db });
        apps.push(plain);
        await seedRows(merged.dataSource, User, rows);
        const ids = Array.from({ length: rows }, (_, i) => i + 1);
        let statements = 0;
        // A later instant each round, so every merged flush changes every row.
        let tick = Date.now();
        const flushOf = async (app: TestApp) => {
          const at = new Date((tick += 1000));
          for (const id of ids) await app.buffer.update(User, id, { lastSeenAt: at });
          app.queries.reset();
          const start = process.hrtime.bigint();
          await app.buffer.flush();
          const rate = rows / seconds(start);
          statements = app.queries.writes().length;
          return rate;
        };
        const s = await alternate(
          { baseline: () => flushOf(plain), value: () => flushOf(merged) },
          { samples: bench.quick ? 5 : 11, warmup: 2 },
        );
        bench.record({
          id,
          title: `flush of ${count} max-merged updates vs last-write-wins ones, ${database}`,
          unit: 'rows/s',
          ...s,
          target: 0.8,
          note: 'the merged UPDATE compares with the table value in a CASE',
        });
        bench.record({
          id: `${id}-statements`,
          title: `statements for ${count} max-merged updates in 1 table, ${database}`,
          unit: statements === 1 ? 'statement' : 'statements',
          value: { median: statements, min: statements, max: statements },
          targetText: 'as last write wins',
        });
      } finally {
        while (apps.length) await apps.pop()!.close();
        await db.drop();
      }
    },
  };
}
