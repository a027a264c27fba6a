import 'reflect-metadata';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { Column, Entity, PrimaryColumn } from 'typeorm';
import { Redis } from 'ioredis';
import {
  LeaseLostError,
  WriteBufferConfigError,
  WriteBufferModule,
  type WriteBufferModuleOptions,
} from '../lib/index.js';
import { Test } from '@nestjs/testing';
import { createStorage } from '../lib/storage/create-storage.js';
import { createTestDatabase, databaseKinds, type DatabaseKind } from './support/databases.js';
import { ActivityLog, DownloadSchema, Membership, Post, User } from './support/entities.js';
import { faultyStorage } from './support/faulty-storage.js';
import {
  closeTestClients,
  REDIS_URL,
  storageKinds,
  storageOptions,
  type StorageKind,
} from './support/storages.js';
import { createTestApp, type TestApp } from './support/test-app.js';

const storages = await storageKinds();
const combos = (await databaseKinds()).flatMap((db) =>
  storages.map((storage) => [db, storage] as [DatabaseKind, StorageKind]),
);
const apps: TestApp[] = [];
afterEach(async () => {
  while (apps.length) await apps.pop()!.close();
});
afterAll(closeTestClients);

/** The `post` table as a later deploy sees it: the `likes` and `score` columns are gone. */
@Entity('post')
class PostWithoutLikes {
  @PrimaryColumn('int')
  id!: number;

  @Column('varchar', { length: 100, default: '' })
  title!: string;

  @Column('int', { default: 0 })
  views!: number;
}

async function open(
  kind: DatabaseKind,
  options: WriteBufferModuleOptions,
  extra: Parameters<typeof createTestApp>[2] = {},
) {
  const t = await createTestApp(kind, options, extra);
  apps.push(t);
  return t;
}

/** A row the database refuses until the row holding its id (1) is deleted: a fixable poison. */
const POISON = { id: 1, postId: 7, at: new Date('2026-01-01T00:00:00Z') };

async function views(t: TestApp, id: number) {
  return (await t.dataSource.getRepository(Post).findOneByOrFail({ id })).views;
}

/** An app that buffered +5 views of post 1 and the poison row, with a storage whose calls can fail. */
async function bufferedWithPoison(kind: DatabaseKind, storageKind: StorageKind) {
  const { storage, failNext } = faultyStorage(await createStorage(storageOptions(storageKind)));
  const t = await open(kind, { storage: { type: 'custom', instance: storage } });
  await t.dataSource.getRepository(Post).insert({ id: 1 });
  await t.dataSource.getRepository(ActivityLog).insert({ ...POISON, postId: 0 });
  await t.buffer.increment(Post, 1, 'views', 5);
  await t.buffer.insert(ActivityLog, POISON);
  return { t, failNext };
}

describe.each(combos)('exactly once on %s with %s storage', (kind, storageKind) => {
  it('never applies the committed half of a bisected batch twice, and get() counts it once', async () => {
    const { t, failNext } = await bufferedWithPoison(kind, storageKind);
    // The half holding the counter commits; its ack is lost.
    failNext('ack', (batch) => batch.tables.some((part) => part.counters.length > 0));
    await expect(t.buffer.flush()).rejects.toThrow(/simulated crash before ack/);
    expect(await views(t, 1)).toBe(5);
    expect(await t.buffer.get(Post, 1, 'views')).toBe(5);
    // The poison's cause is fixed before the next flush: still nothing twice.
    await t.dataSource.getRepository(ActivityLog).delete({ id: 1 });
    const report = await t.buffer.flush();
    expect(report.skippedBatches).toBe(1);
    expect(await views(t, 1)).toBe(5);
    expect(await t.buffer.get(Post, 1, 'views')).toBe(5);
    expect(await t.dataSource.getRepository(ActivityLog).count()).toBe(0);
    expect(await t.buffer.deadLetters()).toHaveLength(1);
    expect(await t.buffer.retryDeadLetters()).toBe(1);
    await t.buffer.flush();
    expect(await t.dataSource.getRepository(ActivityLog).findOneByOrFail({ id: 1 })).toMatchObject({
      postId: 7,
    });
    expect(await t.buffer.deadLetters()).toEqual([]);
    expect((await t.buffer.stats()).inFlightBatches).toBe(0);
  });

  it('get() reads a row that exists only as a buffered insert, pending, in flight and after the flush', async () => {
    const { storage, failNext } = faultyStorage(await createStorage(storageOptions(storageKind)));
    const t = await open(kind, { storage: { type: 'custom', instance: storage } });
    await t.buffer.insert(Post, { id: 5, views: 10 });
    await t.buffer.increment(Post, '5', 'views', 2);
    await t.buffer.insert(Post, { id: 6 }); // views left to its default
    await t.buffer.increment(Post, 6, 'views', 1);
    await t.buffer.insert(Membership, { orgId: 'eu', userId: 1, points: 3 });
    await t.buffer.increment(Membership, { orgId: 'eu', userId: '1' }, 'points', 4);
    expect(await t.buffer.get(Post, 5, 'views')).toBe(12);
    expect(await t.buffer.get(Post, 6, 'views')).toBe(1);
    expect(await t.buffer.get(Membership, { orgId: 'eu', userId: 1 }, 'points')).toBe(7);
    // Committed, not acknowledged: the ledger tells get() not to count it twice.
    failNext('ack');
    await expect(t.buffer.flush()).rejects.toThrow(/simulated crash before ack/);
    expect(await t.buffer.get(Post, 5, 'views')).toBe(12);
    await t.buffer.increment(Post, 5, 'views', 1);
    expect(await t.buffer.get(Post, 5, 'views')).toBe(13);
    await t.buffer.flush();
    expect(await views(t, 5)).toBe(13);
    expect(await views(t, 6)).toBe(1);
    expect(await t.buffer.get(Membership, { orgId: 'eu', userId: 1 }, 'points')).toBe(7);
  });

  it('get() reads an inserted row from the half of a split batch that holds it', async () => {
    const { t, failNext } = await bufferedWithPoison(kind, storageKind);
    await t.buffer.insert(Post, { id: 2, views: 40 });
    await t.buffer.increment(Post, 2, 'views', 2);
    failNext('ack', (batch) => batch.tables.some((part) => part.counters.length > 0));
    await expect(t.buffer.flush()).rejects.toThrow(/simulated crash before ack/);
    expect(await t.buffer.get(Post, 2, 'views')).toBe(42);
    await t.buffer.flush();
    expect(await views(t, 2)).toBe(42);
  });

  it('writes to several tables in one event-loop turn each land in their own table', async () => {
    const t = await open(kind, { storage: storageOptions(storageKind) });
    await t.dataSource.getRepository(Post).insert({ id: 1 });
    await t.dataSource.getRepository(User).insert({ id: 1 });
    await Promise.all([
      t.buffer.increment(Post, 1, 'views', 2),
      t.buffer.update(User, 1, { name: 'ada' }),
      t.buffer.insert(ActivityLog, { postId: 1, at: new Date() }),
      t.buffer.increment(User, 1, 'logins', 3),
    ]);
    const report = await t.buffer.flush();
    expect(report.deadLettered).toBe(0);
    expect(await views(t, 1)).toBe(2);
    expect(await t.dataSource.getRepository(User).findOneByOrFail({ id: 1 })).toMatchObject({
      name: 'ada',
      logins: 3,
    });
    expect(await t.dataSource.getRepository(ActivityLog).count()).toBe(1);
  });

  it('a poison row whose dead letter was lost with its ack is applied once its cause is fixed, and not kept', async () => {
    const { t, failNext } = await bufferedWithPoison(kind, storageKind);
    failNext('ack', (batch) => batch.tables.some((part) => part.inserts.length > 0));
    await expect(t.buffer.flush()).rejects.toThrow(/simulated crash before ack/);
    await t.dataSource.getRepository(ActivityLog).delete({ id: 1 });
    await t.buffer.flush();
    expect(await views(t, 1)).toBe(5);
    expect(await t.dataSource.getRepository(ActivityLog).count()).toBe(1);
    expect(await t.buffer.deadLetters()).toEqual([]);
  });

  it('still reports rows that were missing when a committed batch is acknowledged only on re-apply', async () => {
    const { storage, failNext } = faultyStorage(await createStorage(storageOptions(storageKind)));
    const t = await open(kind, { storage: { type: 'custom', instance: storage } });
    await t.dataSource.getRepository(Post).insert({ id: 1 });
    await t.buffer.increment(Post, 1, 'views', 2);
    await t.buffer.increment(Post, 404, 'views', 3);
    failNext('ack');
    await expect(t.buffer.flush()).rejects.toThrow(/simulated crash before ack/);
    const report = await t.buffer.flush();
    expect(report).toMatchObject({ skippedBatches: 1, deadLettered: 1 });
    expect(report.missing).toMatchObject([{ id: { id: 404 }, values: { views: 3 } }]);
    expect((await t.buffer.deadLetters()).map((l) => [l.key, l.payload])).toEqual([
      [{ id: 404 }, { views: 3 }],
    ]);
    expect(await views(t, 1)).toBe(2);
  });

  it('buffers a dead letter once when retryDeadLetters races itself', async () => {
    const t = await open(kind, { storage: storageOptions(storageKind) });
    await t.buffer.increment(Post, 1, 'views', 4);
    await t.buffer.insert(ActivityLog, { postId: -1, at: new Date() });
    await t.buffer.flush();
    expect(await t.buffer.deadLetters()).toHaveLength(2);
    await t.dataSource.getRepository(Post).insert({ id: 1 });
    const moved = await Promise.all([
      t.buffer.retryDeadLetters(),
      t.buffer.retryDeadLetters(),
      t.buffer.retryDeadLetters(),
    ]);
    expect(moved.reduce((a, b) => a + b)).toBe(2);
    await t.buffer.flush();
    expect(await views(t, 1)).toBe(4);
    expect(await t.buffer.deadLetters()).toHaveLength(1); // the CHECK still refuses postId -1
  });

  // A deploy restarts the app: only storages that outlive it (journal, Redis) hold writes across one.
  if (storageKind !== 'memory') {
    it('get() still reads buffered inserts after a restart, and start-up applies the ones left in flight once', async () => {
      const database = await createTestDatabase(kind);
      const storage = storageOptions(storageKind);
      const first = await createTestApp(
        kind,
        { storage, flush: { onShutdown: false } },
        { database },
      );
      await first.buffer.insert(Post, { id: 5, views: 10 });
      await first.buffer.increment(Post, 5, 'views', 2);
      await first.close();
      const { storage: faulty, failNext } = faultyStorage(await createStorage(storage));
      const second = await createTestApp(
        kind,
        { storage: { type: 'custom', instance: faulty }, flush: { onShutdown: false } },
        { database },
      );
      expect(await second.buffer.get(Post, 5, 'views')).toBe(12);
      await second.buffer.insert(Post, { id: 7, views: 1 });
      failNext('claim');
      await expect(second.buffer.flush()).rejects.toThrow(/simulated crash before claim/);
      failNext('ack');
      await expect(second.buffer.flush()).rejects.toThrow(/simulated crash before ack/);
      await second.dataSource.getRepository(Post).update({ id: 5 }, { views: 100 });
      await second.close();
      const third = await open(kind, { storage }, { database });
      // Start-up found the batch in the ledger; the database holds what it applied.
      expect(await third.buffer.get(Post, 5, 'views')).toBe(100);
      expect(await third.buffer.get(Post, 7, 'views')).toBe(1);
      await third.close();
      await database.drop();
    });

    it('dead-letters writes to columns and entities a deploy removed, and flushes the rest', async () => {
      const database = await createTestDatabase(kind);
      const storage = storageOptions(storageKind);
      const first = await createTestApp(
        kind,
        { storage, flush: { onShutdown: false } },
        { database },
      );
      await first.dataSource.getRepository(Post).insert({ id: 1 });
      await first.buffer.increment(Post, 1, 'views', 2);
      await first.buffer.increment(Post, 1, 'likes', 3);
      await first.buffer.update(Post, 1, { title: 'kept' });
      await first.buffer.insert(ActivityLog, { postId: 1, at: new Date() });
      await first.close();
      const second = await open(
        kind,
        { storage, flush: { onShutdown: false } },
        { database, entities: [PostWithoutLikes, User, Membership, DownloadSchema] },
      );
      const report = await second.buffer.flush();
      expect(report.deadLettered).toBe(2);
      const posts = second.dataSource.getRepository(PostWithoutLikes);
      expect(await posts.findOneByOrFail({ id: 1 })).toMatchObject({ views: 2, title: 'kept' });
      const letters = await second.buffer.deadLetters();
      expect(letters.map((l) => l.error).sort()).toEqual([
        expect.stringMatching(/column 'likes' is not a column of entity PostWithoutLikes/),
        expect.stringMatching(/table 'activity_log' is not an entity/),
      ]);
      // Nothing blocks later flushes.
      await second.buffer.increment(PostWithoutLikes, 1, 'views', 1);
      await second.buffer.flush();
      expect((await posts.findOneByOrFail({ id: 1 })).views).toBe(3);
      await second.close();
      await database.drop();
    });
  }

  it('keeps at most limits.maxDeadLetters dead letters and counts the ones it dropped', async () => {
    const t = await open(kind, {
      storage: storageOptions(storageKind),
      limits: { maxDeadLetters: 5 },
    });
    for (let id = 1; id <= 20; id++) await t.buffer.increment(Post, id, 'views', 1);
    const report = await t.buffer.flush();
    expect(report.missing).toHaveLength(20);
    expect(report.deadLettered).toBe(5);
    expect(await t.buffer.deadLetters()).toHaveLength(5);
    expect((await t.buffer.stats()).deadLettersDropped).toBe(15);
    // A bad bound fails at start (no database needed to see it).
    await expect(
      Test.createTestingModule({
        imports: [WriteBufferModule.forRoot({ limits: { maxDeadLetters: -1 } })],
      }).compile(),
    ).rejects.toThrow(/limits.maxDeadLetters must be a whole number/);
    // Room again once letters are discarded.
    expect(await t.buffer.discardDeadLetters()).toBe(5);
    await t.buffer.increment(Post, 99, 'views', 1);
    await t.buffer.flush();
    expect(await t.buffer.deadLetters()).toHaveLength(1);
  });

  it('refuses a claim, split or ack from a flusher whose lease is gone', async () => {
    const storage = await createStorage(storageOptions(storageKind));
    try {
      const target = { dataSource: 'default', table: 'post' };
      await storage.increment(target, '[1]', 'views', 1);
      const old = (await storage.lease('default', 200))!;
      const batch = (await storage.claim('default', { maxRows: 10, lease: old }))!;
      await storage.increment(target, '[2]', 'views', 1);
      // The old holder stalls past its lease (memory: it gives it up) and another takes over.
      if (storageKind === 'memory' || storageKind === 'journal') await old.release();
      else await new Promise((resolve) => setTimeout(resolve, 300));
      const current = (await storage.lease('default', 10_000))!;
      expect(current).not.toBeNull();
      await expect(storage.claim('default', { maxRows: 10, lease: old })).rejects.toThrow(
        LeaseLostError,
      );
      await expect(storage.ack(batch, old)).rejects.toThrow(LeaseLostError);
      await expect(storage.split(batch, old, [])).rejects.toThrow(LeaseLostError);
      await expect(storage.inFlight('default', old)).rejects.toThrow(LeaseLostError);
      // Nothing changed: the batch is still in flight and row 2 still pending, for the current holder.
      expect((await storage.inFlight('default', current)).map((b) => b.id)).toEqual([batch.id]);
      const next = await storage.claim('default', { maxRows: 10, lease: current });
      expect(next?.tables[0].counters).toEqual([['[2]', { views: 1 }]]);
      await current.release();
    } finally {
      await storage.close();
    }
  });
});

describe.each(await databaseKinds())('ledger format on %s', (kind) => {
  it('brings a ledger of the unversioned layout up to date and refuses an unknown format', async () => {
    const database = await createTestDatabase(kind);
    try {
      const first = await createTestApp(kind, {}, { database });
      await first.dataSource.query('DROP TABLE write_buffer_ledger');
      await first.dataSource.query(
        'CREATE TABLE write_buffer_ledger (batch_id varchar(200) NOT NULL PRIMARY KEY, applied_at bigint NOT NULL)',
      );
      await first.close();
      const second = await createTestApp(kind, {}, { database });
      await second.dataSource.getRepository(Post).insert({ id: 1 });
      await second.buffer.increment(Post, 1, 'views', 2);
      await second.buffer.flush();
      expect(await views(second, 1)).toBe(2);
      await second.dataSource.query(
        `UPDATE write_buffer_ledger SET applied_at = 99 WHERE batch_id = '#format'`,
      );
      await second.close();
      await expect(createTestApp(kind, {}, { database })).rejects.toThrow(
        /ledger table 'write_buffer_ledger' .* format 99/,
      );
    } finally {
      await database.drop();
    }
  });
});

if (storages.includes('redis')) {
  describe('Redis key layout version', () => {
    it('refuses keys of the unversioned layout and of an unknown one', async () => {
      const redis = new Redis(REDIS_URL);
      const keyPrefix = `wbtest-format-${Date.now()}:`;
      try {
        await redis.sadd(`${keyPrefix}{default}:tables`, 'post');
        await expect(
          createTestApp('sqlite', { storage: { type: 'redis', url: REDIS_URL, keyPrefix } }),
        ).rejects.toThrow(/layout version 1, .* reads layout 2/);
        await redis.del(`${keyPrefix}{default}:tables`);
        await redis.set(`${keyPrefix}{default}:format`, '3');
        const error = await createTestApp('sqlite', {
          storage: { type: 'redis', url: REDIS_URL, keyPrefix },
        }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(WriteBufferConfigError);
        expect((error as Error).message).toMatch(/layout version 3/);
        await redis.del(`${keyPrefix}{default}:format`);
        const t = await open('sqlite', { storage: { type: 'redis', url: REDIS_URL, keyPrefix } });
        await t.dataSource.getRepository(Post).insert({ id: 1 });
        await t.buffer.increment(Post, 1, 'views');
        await t.buffer.flush();
        expect(await redis.get(`${keyPrefix}{default}:format`)).toBe('2');
      } finally {
        const keys = await redis.keys(`${keyPrefix}*`);
        if (keys.length) await redis.del(...keys);
        redis.disconnect();
      }
    });
  });
}
