import 'reflect-metadata';
import { afterAll, afterEach, describe, expect, it, jest } from '@jest/globals';
import pg from 'pg';
import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { BufferStorage } from '../lib/index.js';
import { createStorage } from '../lib/storage/create-storage.js';
import { createTestDatabase, databaseKinds, type DatabaseKind } from './support/databases.js';
import { ENTITIES, Post } from './support/entities.js';
import { faultyStorage } from './support/faulty-storage.js';
import {
  closeTestClients,
  redisAvailable,
  storageOptions,
  type StorageKind,
} from './support/storages.js';
import { createTestApp, type TestApp } from './support/test-app.js';

/*
 * More scenarios that lose an acknowledged write, apply one twice, or make
 * get() return a value the database will not end up with.
 */

const databases = await databaseKinds();
const redisUp = await redisAvailable();
const storageKinds: StorageKind[] = redisUp
  ? ['memory', 'journal', 'redis']
  : ['memory', 'journal'];

const apps: TestApp[] = [];
const storages: BufferStorage[] = [];
afterEach(async () => {
  jest.useRealTimers();
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

async function views(t: TestApp, id: number) {
  return (await t.dataSource.getRepository(Post).findOneByOrFail({ id })).views;
}

/** A counter whose column default is an SQL expression (TypeORM `default: () => '5'`). */
@Entity('scored')
class Scored {
  @PrimaryColumn('int')
  id!: number;

  @Column('int', { default: () => '5' })
  points!: number;
}

describe.each(storageKinds)(
  'get() and buffered inserts of one key with %s storage',
  (storageKind) => {
    it('get() reads the insert the database keeps when one key is inserted twice in one batch', async () => {
      const t = await open('sqlite', { storage: storageOptions(storageKind) });
      await t.buffer.insert(Post, { id: 5, views: 10 });
      // The same row again (a client retry, say): the database keeps the first one.
      await t.buffer.insert(Post, { id: 5, views: 20 });
      const before = await t.buffer.get(Post, 5, 'views');
      await t.buffer.flush();
      const after = await t.buffer.get(Post, 5, 'views');
      expect({ db: await views(t, 5), letters: (await t.buffer.deadLetters()).length }).toEqual({
        db: 10,
        letters: 1,
      });
      // Nothing changed in between but the flush: get() must not jump from 20 to 10.
      expect({ before, after }).toEqual({ before: 10, after: 10 });
    });

    it('get() reads the insert the database keeps when the second insert of a key waits behind an in-flight batch', async () => {
      const { storage, failNext } = faultyStorage(await createStorage(storageOptions(storageKind)));
      storages.push(storage);
      const t = await open('sqlite', { storage: { type: 'custom', instance: storage } });
      await t.buffer.insert(Post, { id: 5, views: 10 });
      // Committed, not acknowledged: the batch stays in flight.
      failNext('ack');
      await expect(t.buffer.flush()).rejects.toThrow(/simulated crash before ack/);
      await t.buffer.insert(Post, { id: 5, views: 20 });
      await t.buffer.increment(Post, 5, 'views', 1);
      const before = await t.buffer.get(Post, 5, 'views');
      await t.buffer.flush();
      // The second insert is refused (the row exists); the increment lands on the first.
      expect(await views(t, 5)).toBe(11);
      expect(before).toBe(11);
    });

    it('get() does not let a buffered insert of a row the database already holds hide its value', async () => {
      const t = await open('sqlite', { storage: storageOptions(storageKind) });
      await t.dataSource.getRepository(Post).insert({ id: 5, views: 13 });
      // An insert of a row that exists (it will be refused), then a count on top.
      await t.buffer.insert(Post, { id: 5, views: 0 });
      await t.buffer.increment(Post, 5, 'views', 1);
      const before = await t.buffer.get(Post, 5, 'views');
      await t.buffer.flush();
      expect(await views(t, 5)).toBe(14);
      expect(await t.buffer.get(Post, 5, 'views')).toBe(14);
      // get() must not return 1 while the database is about to hold 14.
      expect(before).toBe(14);
    });
  },
);

describe.each(databases)('get() and column defaults on %s', (kind) => {
  it('counts the default of a counter an insert leaves out when the default is an SQL expression', async () => {
    const t = await open(kind, {}, { entities: [...ENTITIES, Scored] });
    await t.buffer.insert(Scored, { id: 1 });
    await t.buffer.increment(Scored, 1, 'points', 1);
    const before = await t.buffer.get(Scored, 1, 'points');
    await t.buffer.flush();
    const row = await t.dataSource.getRepository(Scored).findOneByOrFail({ id: 1 });
    expect(row.points).toBe(6);
    // get() must not jump from 1 to 6 across the flush.
    expect(before).toBe(6);
  });
});

/*
 * The memory storage names batches with random UUIDs, so two letters of one
 * millisecond come back in a random order (the Redis storage's ids sort by
 * claim time within one instance).
 */
describe.each(['memory', 'journal'] as StorageKind[])(
  'dead letters of several flushes with %s storage',
  (storageKind) => {
    it('retries a set and the increment after it in arrival order when their letters come from two batches of the same millisecond', async () => {
      const { storage, failNext } = faultyStorage(await createStorage(storageOptions(storageKind)));
      storages.push(storage);
      const t = await open('sqlite', {
        storage: { type: 'custom', instance: storage },
        flush: { onShutdown: false },
      });
      // Only the clock is frozen (two flushes within one millisecond); timers run.
      jest.useFakeTimers({
        now: new Date('2026-06-01T00:00:00Z'),
        advanceTimers: false,
        doNotFake: [
          'hrtime',
          'nextTick',
          'performance',
          'queueMicrotask',
          'requestAnimationFrame',
          'cancelAnimationFrame',
          'requestIdleCallback',
          'cancelIdleCallback',
          'setImmediate',
          'clearImmediate',
          'setInterval',
          'clearInterval',
          'setTimeout',
          'clearTimeout',
        ],
      });
      const ids = [1, 2, 3, 4, 5, 6, 7, 8];
      for (const id of ids) {
        // The row does not exist yet: the set is a missing row. Its batch
        // commits; the ack is lost, so the letter is made on the next flush.
        await t.buffer.update(Post, id, { views: 100 });
        failNext('ack');
        await expect(t.buffer.flush()).rejects.toThrow(/simulated crash before ack/);
        // Arrives after the set: its own batch, also a missing row.
        await t.buffer.increment(Post, id, 'views', 1);
        await t.buffer.flush();
      }
      const letters = await t.buffer.deadLetters();
      expect(letters).toHaveLength(16);
      await t.dataSource.getRepository(Post).insert(ids.map((id) => ({ id })));
      expect(await t.buffer.retryDeadLetters()).toBe(16);
      await t.buffer.flush();
      const posts = await t.dataSource.getRepository(Post).find({ order: { id: 'ASC' } });
      // Each row: set 100, then +1.
      expect(posts.filter((p) => p.views !== 101).map((p) => [p.id, p.views])).toEqual([]);
    });
  },
);

/** A tag counter keyed by a case-insensitive text (PostgreSQL `citext`). */
@Entity('tag_counter')
class TagCounter {
  @PrimaryColumn('citext')
  name!: string;

  @Column('int', { default: 0 })
  hits!: number;
}

async function withCitext(kind: DatabaseKind) {
  const database = await createTestDatabase(kind);
  const url = (database.options({ entities: [] }) as { url: string }).url;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('CREATE EXTENSION IF NOT EXISTS citext');
  await client.end();
  return database;
}

if (databases.includes('postgres')) {
  describe('citext keys the database lower-cases differently from JavaScript', () => {
    it('refuses citext keys whose letters fold differently in PostgreSQL, buffering nothing', async () => {
      const database = await withCitext('postgres');
      const t = await open('postgres', {}, { database, entities: [TagCounter] });
      try {
        // JavaScript and PostgreSQL lower-case 'ΟΔΟΣ' and 'İzmir' differently: one row
        // could become two entries, one of them reported missing.
        for (const name of ['ΟΔΟΣ', 'οδοσ', 'İzmir']) {
          await expect(t.buffer.increment(TagCounter, name, 'hits', 2)).rejects.toThrow(
            /citext, letters with case must be ASCII/,
          );
        }
        // ASCII letters fold, other characters without case pass.
        await t.dataSource.getRepository(TagCounter).insert({ name: 'tag-東京' });
        await t.buffer.increment(TagCounter, 'TAG-東京', 'hits', 2);
        await t.buffer.increment(TagCounter, 'tag-東京', 'hits', 3);
        expect((await t.buffer.stats()).pending.counters).toBe(1);
        const report = await t.buffer.flush();
        const [row] = (await t.dataSource.query(
          `SELECT hits FROM tag_counter WHERE name = 'tag-東京'`,
        )) as Array<{ hits: number }>;
        expect({ hits: row.hits, missing: report.missing.length }).toEqual({ hits: 5, missing: 0 });
      } finally {
        await t.close();
        await database.drop();
      }
    });
  });
}
