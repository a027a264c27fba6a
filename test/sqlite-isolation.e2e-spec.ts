import 'reflect-metadata';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import Database from 'better-sqlite3';
import type { DataSourceOptions, QueryRunner } from 'typeorm';
import { FlushError, type WriteBufferModuleOptions } from '../lib/index.js';
import { createTestDatabase, type TestDatabase } from './support/databases.js';
import { ActivityLog, Post } from './support/entities.js';
import { holdAt } from './support/query-gate.js';
import { closeTestClients, storageOptions, type StorageKind } from './support/storages.js';
import { createTestApp, type TestApp } from './support/test-app.js';

const storages: StorageKind[] = ['memory', 'journal'];
/** SQLite's default rollback journal, and WAL as TypeORM's `enableWAL` sets it. */
const journalModes: Array<[string, Record<string, unknown>]> = [
  ['rollback journal', {}],
  ['WAL', { enableWAL: true }],
];
const combos = storages.flatMap((storage) =>
  journalModes.map(([mode, extra]) => [storage, mode, extra] as const),
);
const apps: TestApp[] = [];
const databases: TestDatabase[] = [];
afterAll(closeTestClients);
afterEach(async () => {
  while (apps.length) await apps.pop()!.close();
  while (databases.length) await databases.pop()!.drop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A SQLite database whose data source options get `extra` (e.g. a busy `timeout`). */
async function sqliteWith(extra: Record<string, unknown>): Promise<TestDatabase> {
  const database = await createTestDatabase('sqlite');
  return {
    ...database,
    options: (options) => ({ ...database.options(options), ...extra }) as DataSourceOptions,
  };
}

describe.each(combos)(
  'SQLite: the flush never shares a transaction with the app (%s storage, %s)',
  (storageKind, _mode, journal) => {
    async function open(
      options: WriteBufferModuleOptions = {},
      extra: Record<string, unknown> = {},
    ) {
      const database = await sqliteWith({ ...journal, ...extra });
      const t = await createTestApp(
        'sqlite',
        { storage: storageOptions(storageKind), ...options },
        { database },
      );
      apps.push(t);
      databases.push(database);
      return t;
    }

    /** The app's own transaction, with a write of its own (so it holds SQLite's write lock). */
    async function appTransaction(t: TestApp, ownPostId: number): Promise<QueryRunner> {
      const runner = t.dataSource.createQueryRunner();
      await runner.connect();
      await runner.startTransaction();
      await runner.manager.insert(Post, { id: ownPostId, title: 'written by the app' });
      return runner;
    }

    /** What another connection (another process) reads from the database file. */
    function viewsSeenByAnotherConnection(t: TestApp, id: number): number {
      const other = new Database((t.dataSource.options as { database: string }).database, {
        readonly: true,
      });
      try {
        return (other.prepare('SELECT views FROM post WHERE id = ?').get(id) as { views: number })
          .views;
      } finally {
        other.close();
      }
    }

    it('acknowledged increments survive an app transaction that rolls back while a flush runs', async () => {
      const t = await open();
      await t.dataSource.getRepository(Post).insert({ id: 1 });
      for (let i = 0; i < 5; i++) await t.buffer.increment(Post, 1, 'views');

      const app = await appTransaction(t, 2);
      // The flush may wait for the app's transaction or fail transiently; it must not join it.
      const flushing = t.buffer.flush().then(
        () => 'flushed',
        (error: unknown) => error,
      );
      await sleep(150);
      await app.rollbackTransaction();
      await app.release();
      const outcome = await flushing;
      if (outcome !== 'flushed') expect(outcome).toBeInstanceOf(FlushError);
      await t.buffer.flush();

      const posts = t.dataSource.getRepository(Post);
      expect((await posts.findOneByOrFail({ id: 1 })).views).toBe(5);
      expect(await posts.findOneBy({ id: 2 })).toBeNull(); // the app's own write was rolled back
      expect(await t.buffer.get(Post, 1, 'views')).toBe(5);
      const stats = await t.buffer.stats();
      expect(stats.pending.counters).toBe(0);
      expect(stats.inFlightBatches).toBe(0);
    });

    it("keeps the app's own write when a flush rolls back to isolate a poison row", async () => {
      const t = await open();
      const at = new Date();
      await t.buffer.insert(ActivityLog, [
        { postId: 1, at },
        { postId: -1, at }, // violates CHK_activity_log_post
        { postId: 2, at },
      ]);
      // Pause the flush's first transaction at its first statement (the ledger insert).
      const gate = holdAt('query', /^INSERT INTO \S*write_buffer_ledger/);
      const flushing = t.buffer.flush();
      await gate.reached;
      await t.dataSource.getRepository(Post).insert({ id: 7, title: 'written by the app' });
      gate.release();
      const report = await flushing;

      expect(report.deadLettered).toBe(1);
      expect(await t.dataSource.getRepository(Post).findOneBy({ id: 7 })).toMatchObject({
        title: 'written by the app',
      });
      const logs = await t.dataSource.getRepository(ActivityLog).find({ order: { id: 'ASC' } });
      expect(logs.map((log) => log.postId)).toEqual([1, 2]);
    });

    it('waits for the app to release its write lock without freezing the event loop, then commits for every connection', async () => {
      const t = await open();
      await t.dataSource.getRepository(Post).insert({ id: 1 });
      await t.buffer.increment(Post, 1, 'views', 3);

      const app = await appTransaction(t, 2);
      let ticks = 0;
      const ticker = setInterval(() => ticks++, 10);
      let seenWhenResolved: number | undefined;
      const flushing = t.buffer.flush().then((report) => {
        seenWhenResolved = viewsSeenByAnotherConnection(t, 1);
        return report;
      });
      const started = Date.now();
      await sleep(300);
      const held = Date.now() - started;
      const ticksWhileHeld = ticks;
      await app.commitTransaction();
      await app.release();
      const report = await flushing;
      clearInterval(ticker);

      expect(held).toBeLessThan(1000); // the app's own timer was not held up
      expect(ticksWhileHeld).toBeGreaterThanOrEqual(10);
      expect(report.incremented).toBe(1);
      // flush() resolved once its commit was visible outside the app's connection.
      expect(seenWhenResolved).toBe(3);
      expect(await t.dataSource.getRepository(Post).findOneBy({ id: 2 })).not.toBeNull();
    });

    it("commits once the app's reading transaction ends, and never inside it", async () => {
      const t = await open();
      await t.dataSource.getRepository(Post).insert({ id: 1 });
      await t.buffer.increment(Post, 1, 'views', 2);

      const app = t.dataSource.createQueryRunner();
      await app.connect();
      await app.startTransaction();
      await app.query('SELECT views FROM post WHERE id = 1');
      let seenWhenResolved: number | undefined;
      const flushing = t.buffer.flush().then((report) => {
        seenWhenResolved = viewsSeenByAnotherConnection(t, 1);
        return report;
      });
      await sleep(200);
      await app.commitTransaction();
      await app.release();
      const report = await flushing;

      expect(report.incremented).toBe(1);
      expect(seenWhenResolved).toBe(2);
      expect(await t.buffer.get(Post, 1, 'views')).toBe(2);
    });

    it('fails transiently (nothing dead-lettered, batch kept) when the app holds the write lock past the busy timeout', async () => {
      const t = await open({}, { timeout: 200 });
      await t.dataSource.getRepository(Post).insert({ id: 1 });
      await t.buffer.increment(Post, 1, 'views', 4);

      const app = await appTransaction(t, 2);
      const error = await t.buffer.flush().catch((e: unknown) => e);
      await app.rollbackTransaction();
      await app.release();

      expect(error).toBeInstanceOf(FlushError);
      expect((error as Error).message).toMatch(/database is locked/);
      expect(await t.buffer.deadLetters()).toEqual([]);
      expect((await t.buffer.stats()).inFlightBatches).toBe(1);
      expect(await t.buffer.get(Post, 1, 'views')).toBe(4);
      await t.buffer.flush();
      expect((await t.dataSource.getRepository(Post).findOneByOrFail({ id: 1 })).views).toBe(4);
    });

    it('an app transaction that reads past the busy timeout: rollback journal fails the flush transiently, WAL does not wait', async () => {
      const t = await open({}, { timeout: 200 });
      await t.dataSource.getRepository(Post).insert([1, 2, 3, 4].map((id) => ({ id })));
      for (const id of [1, 2, 3, 4]) await t.buffer.increment(Post, id, 'views', id);

      const app = t.dataSource.createQueryRunner();
      await app.connect();
      await app.startTransaction();
      await app.query('SELECT COUNT(*) FROM post');
      const outcome = await t.buffer.flush().catch((e: unknown) => e);
      const seen = viewsSeenByAnotherConnection(t, 4);
      await app.commitTransaction();
      await app.release();

      if (journal.enableWAL) {
        expect(outcome).toMatchObject({ incremented: 4 });
        expect(seen).toBe(4);
      } else {
        // Its COMMIT found the app's read lock until the timeout: a transient failure.
        expect(outcome).toBeInstanceOf(FlushError);
        expect((outcome as Error).message).toMatch(/database is locked/);
        expect(seen).toBe(0);
        expect(await t.buffer.deadLetters()).toEqual([]);
        expect((await t.buffer.stats()).inFlightBatches).toBe(1);
        await t.buffer.flush();
      }
      const views = await t.dataSource.getRepository(Post).find({ order: { id: 'ASC' } });
      expect(views.map((post) => post.views)).toEqual([1, 2, 3, 4]);
    });
  },
);
