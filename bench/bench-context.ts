import type { DataSource } from 'typeorm';
import type { WriteBufferStorageOptions } from '../lib/index.js';
import { createTestDatabase, type DatabaseKind } from '../test/support/databases.js';
import { Post, User } from '../test/support/entities.js';
import { createTestApp, type TestApp } from '../test/support/test-app.js';

/**
 * The test app (TypeORM on a fresh database, the buffer, no cron) with
 * flushes that take everything pending in one batch. PostgreSQL commits
 * durably here, as in production: the test server runs with
 * `synchronous_commit=off` because tests kill the app, never the database.
 */
export async function benchContext(
  kind: DatabaseKind,
  storage: WriteBufferStorageOptions = { type: 'memory' },
  /** More of the test app (entities, modules such as `WriteBufferModule.forFeature()`). */
  extra: Parameters<typeof createTestApp>[2] = {},
): Promise<TestApp> {
  const created = await createTestDatabase(kind);
  const database =
    kind === 'postgres'
      ? {
          ...created,
          options: ((extra) =>
            created.options({
              ...extra,
              extra: { options: '-c synchronous_commit=on' },
            })) as typeof created.options,
        }
      : created;
  try {
    const app = await createTestApp(
      kind,
      { storage, flush: { maxPending: 0, maxBatchRows: 1_000_000 } },
      { ...extra, database },
    );
    return {
      ...app,
      close: async () => {
        await app.close();
        await database.drop();
      },
    };
  } catch (error) {
    await database.drop();
    throw error;
  }
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
