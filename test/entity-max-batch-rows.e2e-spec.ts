import 'reflect-metadata';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { type WriteBufferEntityOptions, type WriteBufferModuleOptions } from '../lib/index.js';
import type { DatabaseKind } from './support/databases.js';
import { ActivityLog, Post, User } from './support/entities.js';
import { closeTestClients, databaseStorageMatrix, storageOptions } from './support/storages.js';
import { createTestApp, type TestApp } from './support/test-app.js';
import { featureModule } from './support/feature-module.js';

const combos = await databaseStorageMatrix();

afterAll(closeTestClients);

/** Flush statements that write rows into `table` (not the ledger). */
const writesTo = (t: TestApp, table: string) =>
  t.queries.writes().filter((q) => new RegExp(`^\\s*INSERT INTO\\s+["\`]?${table}\\b`).test(q));

describe.each(combos)('per-entity maxBatchRows on %s with %s storage', (kind, storageKind) => {
  let t: TestApp;
  afterEach(() => t.close());

  const open = async (
    kind: DatabaseKind,
    options: WriteBufferModuleOptions,
    entities: WriteBufferEntityOptions[],
  ) => {
    t = await createTestApp(
      kind,
      { ...options, storage: storageOptions(storageKind) },
      { imports: [featureModule(entities)] },
    );
    return t;
  };

  it("claims at most the entity's own number of its rows per batch; other entities' rows go in as before", async () => {
    await open(kind, {}, [{ entity: Post, maxBatchRows: 10 }]);
    await t.dataSource
      .getRepository(User)
      .insert(Array.from({ length: 25 }, (_, i) => ({ id: i + 1 })));
    await t.buffer.insert(
      Post,
      Array.from({ length: 25 }, (_, i) => ({ id: i + 1, title: `p${i + 1}` })),
    );
    for (let id = 1; id <= 25; id++) await t.buffer.update(User, id, { name: `u${id}` });
    t.queries.reset();

    const report = await t.buffer.flush();
    expect(report).toMatchObject({ batches: 3, inserted: 25, updated: 25 });
    expect(writesTo(t, 'post')).toHaveLength(3);
    // The 25 users share the module's 10,000: one batch, one statement.
    expect(t.queries.writes().filter((q) => /app_user/.test(q))).toHaveLength(1);
    expect(await t.dataSource.getRepository(Post).count()).toBe(25);
  });

  // Redis claims a table's counters and updates whole: its batch limits bound inserts.
  if (!storageKind.startsWith('redis')) {
    it("bounds an entity's counted rows too", async () => {
      await open(kind, {}, [{ entity: Post, maxBatchRows: 10 }]);
      await t.dataSource
        .getRepository(Post)
        .insert(Array.from({ length: 25 }, (_, i) => ({ id: i + 1 })));
      for (let id = 1; id <= 25; id++) await t.buffer.increment(Post, id, 'views', id);
      expect(await t.buffer.flush()).toMatchObject({ batches: 3, incremented: 25 });
      expect(await t.dataSource.getRepository(Post).sum('views')).toBe((25 * 26) / 2);
    });
  }

  it("lets an entity claim more than the module's flush.maxBatchRows", async () => {
    await open(kind, { flush: { maxBatchRows: 10 } }, [{ entity: ActivityLog, maxBatchRows: 100 }]);
    const at = new Date();
    await t.buffer.insert(
      ActivityLog,
      Array.from({ length: 25 }, (_, i) => ({ postId: i, at })),
    );
    await t.buffer.insert(
      Post,
      Array.from({ length: 25 }, (_, i) => ({ id: i + 1 })),
    );
    t.queries.reset();
    expect(await t.buffer.flush()).toMatchObject({ batches: 3, inserted: 50 });
    expect(writesTo(t, 'activity_log')).toHaveLength(1);
    expect(writesTo(t, 'post')).toHaveLength(3);
  });
});
