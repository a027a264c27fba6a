import 'reflect-metadata';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { BufferStorage } from '../lib/index.js';
import { createStorage } from '../lib/storage/create-storage.js';
import { createTestDatabase, databaseKinds, type DatabaseKind } from './support/databases.js';
import { ActivityLog, DownloadSchema, Membership, Post, User } from './support/entities.js';
import { faultyStorage } from './support/faulty-storage.js';
import {
  closeTestClients,
  redisAvailable,
  storageOptions,
  type StorageKind,
} from './support/storages.js';
import { createTestApp, type TestApp } from './support/test-app.js';

/*
 * Scenarios that lose an acknowledged write, apply one twice, or make
 * get() return a value the database will not end up with.
 */

const databases = await databaseKinds();
const redisUp = await redisAvailable();
/** Storages whose state outlives the app (a restart or a deploy in between). */
const durable: StorageKind[] = redisUp ? ['journal', 'redis'] : ['journal'];

const apps: TestApp[] = [];
const storages: BufferStorage[] = [];
afterEach(async () => {
  while (apps.length) await apps.pop()!.close();
  while (storages.length)
    await storages
      .pop()!
      .close()
      .catch(() => undefined);
});
afterAll(closeTestClients);

async function open(
  kind: DatabaseKind,
  options: Parameters<typeof createTestApp>[1],
  extra: Parameters<typeof createTestApp>[2] = {},
) {
  const t = await createTestApp(kind, options, extra);
  apps.push(t);
  return t;
}

/** The `post` table as a later deploy sees it: the `likes` column is gone. */
@Entity('post')
class PostWithoutLikes {
  @PrimaryColumn('int')
  id!: number;

  @Column('varchar', { length: 100, default: '' })
  title!: string;

  @Column('int', { default: 0 })
  views!: number;

  @Column('float', { default: 0 })
  score!: number;
}

/** The entities of a deploy that dropped `Post.likes` (and kept everything else). */
const WITHOUT_LIKES = [PostWithoutLikes, User, ActivityLog, Membership, DownloadSchema];
/** The entities of a deploy that dropped the `ActivityLog` entity. */
const WITHOUT_ACTIVITY_LOG = [Post, User, Membership, DownloadSchema];

describe.each(durable)('schema changes across a restart with %s storage', (storageKind) => {
  it('does not apply a committed batch again when a deploy removed one of its columns before its ack', async () => {
    const database = await createTestDatabase('sqlite');
    const options = storageOptions(storageKind);
    const inner = await createStorage(options);
    const { storage, failNext } = faultyStorage(inner);
    const first = await createTestApp(
      'sqlite',
      { storage: { type: 'custom', instance: storage }, flush: { onShutdown: false } },
      { database },
    );
    await first.dataSource.getRepository(Post).insert({ id: 1 });
    await first.buffer.increment(Post, 1, 'views', 2);
    await first.buffer.increment(Post, 1, 'likes', 3);
    // The batch commits; the process dies before its acknowledgement.
    failNext('ack');
    await expect(first.buffer.flush()).rejects.toThrow(/simulated crash before ack/);
    const committed = await first.dataSource.getRepository(Post).findOneByOrFail({ id: 1 });
    expect([committed.views, committed.likes]).toEqual([2, 3]);
    await first.close();
    await inner.close();

    // The next deploy no longer maps `likes`; it re-applies the batch left in flight.
    const second = await open(
      'sqlite',
      { storage: options, flush: { onShutdown: false } },
      { database, entities: WITHOUT_LIKES },
    );
    await second.buffer.flush();
    const row = await second.dataSource.getRepository(PostWithoutLikes).findOneByOrFail({ id: 1 });
    // Expected: the ledger shows the batch applied, so nothing runs again.
    expect(row.views).toBe(2);
    // The `likes` delta was applied by the first run: it must not also be a dead letter.
    expect(await second.buffer.deadLetters()).toEqual([]);
    await second.close();
    await database.drop();
  });

  it('does not turn inserts that a committed batch applied into dead letters when their entity was removed before the ack', async () => {
    const database = await createTestDatabase('sqlite');
    const options = storageOptions(storageKind);
    const inner = await createStorage(options);
    const { storage, failNext } = faultyStorage(inner);
    const first = await createTestApp(
      'sqlite',
      { storage: { type: 'custom', instance: storage }, flush: { onShutdown: false } },
      { database },
    );
    await first.buffer.insert(ActivityLog, { postId: 1, at: new Date('2026-01-01T00:00:00Z') });
    failNext('ack');
    await expect(first.buffer.flush()).rejects.toThrow(/simulated crash before ack/);
    expect(await first.dataSource.getRepository(ActivityLog).count()).toBe(1);
    await first.close();
    await inner.close();

    const second = await open(
      'sqlite',
      { storage: options, flush: { onShutdown: false } },
      { database, entities: WITHOUT_ACTIVITY_LOG },
    );
    await second.buffer.flush();
    // The row is in the database already: a dead letter of it would insert it twice on retry.
    expect(await second.buffer.deadLetters()).toEqual([]);
    await second.close();
    await database.drop();
  });

  it('keeps one dead letter per insert when identical rows of a removed entity are set aside together', async () => {
    const database = await createTestDatabase('sqlite');
    const options = storageOptions(storageKind);
    const first = await createTestApp(
      'sqlite',
      { storage: options, flush: { onShutdown: false } },
      { database },
    );
    const at = new Date('2026-01-01T00:00:00Z');
    // Two identical events (an activity log has no natural key): two acknowledged writes.
    await first.buffer.insert(ActivityLog, { postId: 1, at });
    await first.buffer.insert(ActivityLog, { postId: 1, at });
    await first.close();

    const second = await open(
      'sqlite',
      { storage: options, flush: { onShutdown: false } },
      { database, entities: WITHOUT_ACTIVITY_LOG },
    );
    const report = await second.buffer.flush();
    expect(report.deadLettered).toBe(2);
    const letters = await second.buffer.deadLetters();
    // Expected two letters; the second overwrites the first (same id), so one write is gone.
    expect(letters).toHaveLength(2);
    expect((await second.buffer.stats()).deadLetters).toBe(2);
    await second.close();
    await database.drop();
  });
});

/** A tag counter keyed by a case-insensitive text (PostgreSQL `citext`). */
@Entity('tag_counter')
class TagCounter {
  @PrimaryColumn('citext')
  name!: string;

  @Column('int', { default: 0 })
  hits!: number;
}

if (databases.includes('postgres')) {
  describe('row keys the database compares case-insensitively (PostgreSQL citext)', () => {
    it('buffers both spellings of one citext key as one row', async () => {
      const database = await createTestDatabase('postgres');
      const url = (database.options({ entities: [] }) as { url: string }).url;
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query('CREATE EXTENSION IF NOT EXISTS citext');
      await client.end();
      const t = await open('postgres', {}, { database, entities: [TagCounter] });
      try {
        await t.dataSource.getRepository(TagCounter).insert({ name: 'NestJS' });
        await t.buffer.increment(TagCounter, 'NestJS', 'hits', 2);
        await t.buffer.increment(TagCounter, 'nestjs', 'hits', 3);
        // The database holds one row for both spellings.
        const read = [
          await t.buffer.get(TagCounter, 'nestjs', 'hits'),
          await t.buffer.get(TagCounter, 'NestJS', 'hits'),
        ];
        const report = await t.buffer.flush();
        const row = await t.dataSource
          .getRepository(TagCounter)
          .findOneByOrFail({ name: 'nestjs' });
        const letters = await t.buffer.deadLetters();
        expect({
          read,
          hits: row.hits,
          missing: report.missing.length,
          letters: letters.length,
        }).toEqual({
          read: [5, 5],
          hits: 5,
          missing: 0,
          letters: 0,
        });
      } finally {
        await t.close();
        await database.drop();
      }
    });
  });
}

describe.each(databases)('get() on %s', (kind) => {
  it('counts the value of a buffered insert of the row', async () => {
    const t = await open(kind, {});
    await t.buffer.insert(Post, { id: 5, views: 10 });
    await t.buffer.increment(Post, 5, 'views', 1);
    const before = await t.buffer.get(Post, 5, 'views');
    await t.buffer.flush();
    const after = await t.buffer.get(Post, 5, 'views');
    expect(after).toBe(11);
    // Nothing changed in between but the flush: get() must not jump from 1 to 11.
    expect(before).toBe(after);
  });
});

describe.each(durable)('dead-letter retry with %s storage', (storageKind) => {
  it('keeps the arrival order of an update and later increments of the same rows when their letters are retried', async () => {
    const database = await createTestDatabase('sqlite');
    const options = storageOptions(storageKind);
    const first = await createTestApp(
      'sqlite',
      { storage: options, flush: { onShutdown: false } },
      { database },
    );
    const ids = Array.from({ length: 20 }, (_, i) => i + 1);
    // Set, then count on top; the rows do not exist yet, so both become dead letters.
    for (const id of ids) await first.buffer.update(Post, id, { views: 10 });
    for (const id of ids) await first.buffer.increment(Post, id, 'views', 3);
    const report = await first.buffer.flush();
    expect(report.deadLettered).toBe(40);
    await first.close();
    // The rows are created; the app (re)starts and the letters are retried.
    const second = await open(
      'sqlite',
      { storage: options, flush: { onShutdown: false } },
      { database },
    );
    await second.dataSource.getRepository(Post).insert(ids.map((id) => ({ id })));
    expect(await second.buffer.retryDeadLetters()).toBe(40);
    await second.buffer.flush();
    const posts = await second.dataSource.getRepository(Post).find({ order: { id: 'ASC' } });
    // update { views: 10 } then +3 arrived in that order: every row ends at 13.
    expect(posts.filter((p) => p.views !== 13).map((p) => [p.id, p.views])).toEqual([]);
    await second.close();
    await database.drop();
  });
});

if (databases.includes('postgres')) {
  describe('bisection on postgres', () => {
    it('does not let increments that arrived after a refused update be overwritten when the update is retried', async () => {
      const t = await open('postgres', {});
      await t.dataSource.getRepository(Post).insert({ id: 1 });
      // Set views to 10 (with a title the column refuses), then count 3 on top.
      await t.buffer.update(Post, 1, { views: 10, title: 'x'.repeat(101) });
      await t.buffer.increment(Post, 1, 'views', 3);
      const report = await t.buffer.flush();
      // The update and the increments after it are set aside together.
      expect(report.deadLettered).toBe(2);
      expect((await t.dataSource.getRepository(Post).findOneByOrFail({ id: 1 })).views).toBe(0);
      // The cause is fixed and the letters retried.
      await t.dataSource.query('ALTER TABLE post ALTER COLUMN title TYPE varchar(200)');
      expect(await t.buffer.retryDeadLetters()).toBe(2);
      await t.buffer.flush();
      const post = await t.dataSource.getRepository(Post).findOneByOrFail({ id: 1 });
      // Arrival order on one row: the set, then +3.
      expect(post.views).toBe(13);
    });
  });
}
