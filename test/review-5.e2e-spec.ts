import 'reflect-metadata';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { Check, Column, Entity, In, PrimaryColumn } from 'typeorm';
import type {
  WriteBufferEntityOptions,
  WriteBufferModuleOptions,
  WriteBufferStorageOptions,
} from '../lib/index.js';
import { databaseKinds, type TestDatabase } from './support/databases.js';
import { ENTITIES, PageDailyViews, Post, User } from './support/entities.js';
import { featureModule } from './support/feature-module.js';
import { UPDATE_STATEMENT } from './support/query-counter.js';
import { holdAt } from './support/query-gate.js';
import {
  closeTestClients,
  REDIS_URL,
  storageKinds,
  storageOptions,
  type StorageKind,
} from './support/storages.js';
import { createTestApp, type TestApp } from './support/test-app.js';

/** A counter the database caps: an insert above the cap is refused on every database. */
@Entity('r5_capped')
@Check('r5_capped_cap', '"hits" <= 100')
class Capped {
  @PrimaryColumn('int')
  id!: number;

  @Column('int', { default: 0 })
  hits!: number;
}

const kinds = (await databaseKinds()).filter((k) => k !== 'mariadb');
const storages = (await storageKinds()).filter((s) => s !== 'redis-cluster');
const matrix = kinds.flatMap((kind) => storages.map((storage) => [kind, storage] as const));

const apps: TestApp[] = [];
afterAll(closeTestClients);
afterEach(async () => {
  while (apps.length) await apps.pop()!.close();
});

async function open(
  kind: (typeof kinds)[number],
  storage: StorageKind | WriteBufferStorageOptions,
  features: WriteBufferEntityOptions[] = [],
  options: WriteBufferModuleOptions = {},
  database?: TestDatabase,
): Promise<TestApp> {
  const t = await createTestApp(
    kind,
    { storage: typeof storage === 'string' ? storageOptions(storage) : storage, ...options },
    {
      database,
      entities: [...ENTITIES, PageDailyViews, Capped],
      imports: [featureModule(features.map((f) => ({ onMissingRow: 'insert', ...f })))],
    },
  );
  apps.push(t);
  return t;
}

const day = '2026-11-26';
const K = { day, pageId: 2 };
const J = { day, pageId: 3 };

/**
 * The batch [insert X (duplicate), insert K, counters of K, counters of J] of `t` is refused
 * and split: [insert X] is set aside, [insert K] commits (held there), [counters of K and J]
 * waits in flight behind it, and `reader` (`t`, or another app on its storage) buffers more
 * writes of K and J and reads them.
 */
async function bisectedUpserts(t: TestApp, reader: TestApp) {
  const repo = t.dataSource.getRepository(PageDailyViews);
  await repo.insert({ day, pageId: 1, views: 1 });
  await t.buffer.insert(PageDailyViews, { day, pageId: 1, views: 40 });
  await t.buffer.insert(PageDailyViews, { ...K, views: 5 });
  await t.buffer.increment(PageDailyViews, K, 'credits', 1);
  await t.buffer.increment(PageDailyViews, K, 'views', 2);
  await t.buffer.increment(PageDailyViews, J, 'credits', 3);
  const gate = holdAt('commit');
  const flushing = t.buffer.flush();
  await gate.reached;
  const ids = [K, J];
  const columns = ['views', 'credits'] as const;
  const read = async () => {
    const got = [];
    for (const id of ids) {
      const row: Record<string, number> = {};
      for (const c of columns) row[c] = await reader.buffer.get(PageDailyViews, id, c);
      got.push(row);
    }
    return got;
  };
  let during: Array<Record<string, number>>;
  try {
    await reader.buffer.increment(PageDailyViews, K, 'views', 10);
    await reader.buffer.increment(PageDailyViews, K, 'credits', 1);
    // J is created by the counters in flight: this insert of it is refused.
    await reader.buffer.insert(PageDailyViews, { ...J, views: 50 });
    await reader.buffer.increment(PageDailyViews, J, 'views', 4);
    during = await read();
    expect(await reader.buffer.getMany(PageDailyViews, ids, [...columns])).toEqual(during);
    const loaded = await repo.find({
      where: { day, pageId: In([2, 3]) },
      order: { pageId: 'ASC' },
    });
    // K is in the database (its insert committed); J is not yet.
    expect(loaded.map((r) => r.pageId)).toEqual([2]);
    await reader.buffer.overlay(PageDailyViews, loaded, [...columns]);
    expect({ views: loaded[0].views, credits: loaded[0].credits }).toEqual(during[0]);
  } finally {
    gate.release();
  }
  await flushing;
  await t.buffer.flush();
  const stored = await repo.find({
    where: { day, pageId: In([2, 3]) },
    order: { pageId: 'ASC' },
  });
  expect(stored.map(({ views, credits }) => ({ views, credits }))).toEqual(during);
  expect(during).toEqual([
    { views: 17, credits: 102 },
    { views: 4, credits: 103 },
  ]);
  expect(await read()).toEqual(during);
  expect((await t.buffer.deadLetters()).map((l) => l.kind).sort()).toEqual(['insert', 'insert']);
}

describe.each(matrix)('several batches in flight after a bisection (%s, %s)', (kind, storage) => {
  it('get(), getMany() and overlay() of upserted rows equal the database after the flushes', async () => {
    const t = await open(kind, storage, [{ entity: PageDailyViews }]);
    await bisectedUpserts(t, t);
  });

  it('discard() of a row whose insert and counters sit in two parts reports both', async () => {
    const t = await open(kind, storage);
    const repo = t.dataSource.getRepository(Post);
    await repo.insert({ id: 1, views: 1 });
    await t.buffer.insert(Post, { id: 1, title: 'dup' });
    await t.buffer.insert(Post, { id: 2, views: 1 });
    await t.buffer.increment(Post, 2, 'views', 2);
    await t.buffer.increment(Post, 2, 'likes', 1);
    const gate = holdAt('commit');
    const flushing = t.buffer.flush();
    await gate.reached;
    await t.buffer.increment(Post, 2, 'views', 5);
    expect(await t.buffer.discard(Post, 2)).toEqual({ discarded: 1, inFlight: 2 });
    // The database's value plus what is in flight: the insert committed, the counters not yet.
    expect(await t.buffer.get(Post, 2, 'views')).toBe(3);
    expect(await t.buffer.getMany(Post, [2], ['views', 'likes'])).toEqual([{ views: 3, likes: 1 }]);
    gate.release();
    await flushing;
    expect(await t.buffer.discard(Post, 2)).toEqual({ discarded: 0, inFlight: 0 });
    const row = await repo.findOneByOrFail({ id: 2 });
    expect({ views: row.views, likes: row.likes }).toEqual({ views: 3, likes: 1 });
    expect(await t.buffer.get(Post, 2, 'views')).toBe(3);
  });

  it('get() of a max-merged column written in two parts and pending equals the database', async () => {
    const t = await open(kind, storage, [{ entity: User, merge: { lastSeenAt: 'max' } }]);
    const repo = t.dataSource.getRepository(User);
    const at = (s: number) => new Date(Date.UTC(2026, 10, 26, 12, 0, s));
    await repo.insert({ id: 1 });
    await t.buffer.insert(User, { id: 1 });
    await t.buffer.insert(User, { id: 2, lastSeenAt: at(3) });
    await t.buffer.update(User, 2, { lastSeenAt: at(9) });
    await t.buffer.increment(User, 2, 'logins', 1);
    await t.buffer.update(User, 3, { lastSeenAt: at(1) });
    const gate = holdAt('commit');
    const flushing = t.buffer.flush();
    await gate.reached;
    const during = await Promise.all([
      t.buffer.update(User, 2, { lastSeenAt: at(4) }),
      // Row 3 is created by the update in flight: this insert of it is refused.
      t.buffer.insert(User, { id: 3, lastSeenAt: at(70), logins: 5 }),
    ])
      .then(() =>
        Promise.all([
          t.buffer.get(User, 2, 'lastSeenAt'),
          t.buffer.get(User, 3, 'lastSeenAt'),
          t.buffer.get(User, 2, 'logins'),
          t.buffer.get(User, 3, 'logins'),
        ]),
      )
      .finally(gate.release);
    await flushing;
    await t.buffer.flush();
    const rows = await repo.find({ where: { id: In([2, 3]) }, order: { id: 'ASC' } });
    expect([rows[0].lastSeenAt, rows[1].lastSeenAt, rows[0].logins, rows[1].logins]).toEqual(
      during,
    );
    expect(during).toEqual([at(9), at(1), 1, 0]);
  });
});

/**
 * Reads row 7 of {@link Capped} (get() and getMany()) while a flush is held, releases it, and
 * expects both reads to equal what the flush leaves in the database: 5.
 */
async function expectHitsOf7(t: TestApp, flushing: Promise<unknown>, release: () => void) {
  const during = await Promise.all([
    t.buffer.get(Capped, 7, 'hits'),
    t.buffer.getMany(Capped, [7], ['hits']).then((rows) => rows[0].hits),
  ]).finally(release);
  await flushing;
  const row = await t.dataSource.getRepository(Capped).findOneByOrFail({ id: 7 });
  expect(row.hits).toBe(5);
  expect(during).toEqual([5, 5]);
}

describe.each(matrix)('two inserts of one key claimed in two batches (%s, %s)', (kind, storage) => {
  const insertInto = (table: string) => new RegExp(`INSERT INTO [\`"]?${table}[\`"]? `);

  // maxBatchRows 1: the first insert of row 7 goes alone in one batch, the second (which the
  // database refuses as a duplicate) in the next, claimed with every insert still pending.
  it('discard() counts the in-flight batch holding the second insert of the row', async () => {
    const t = await open(kind, storage, [], { flush: { maxBatchRows: 1 } });
    await t.buffer.insert(Post, { id: 7, views: 1 });
    await t.buffer.insert(Post, { id: 7, views: 2 });
    const first = holdAt('commit');
    const flushing = t.buffer.flush();
    await first.reached;
    const second = holdAt('query', insertInto('post'));
    first.release();
    await second.reached;
    // The batch holding the second insert is in flight: a delete now would be undone by it.
    const discarded = await t.buffer.discard(Post, 7).finally(second.release);
    await flushing;
    expect(discarded).toEqual({ discarded: 0, inFlight: 1 });
    expect((await t.buffer.deadLetters()).map((l) => l.kind)).toEqual(['insert']);
  });

  // The first insert of row 7 is refused (CHECK), so the second one, in flight, creates the row.
  it('get() sees the second insert of a row in flight once the first was refused', async () => {
    const t = await open(kind, storage, [], { flush: { maxBatchRows: 1 } });
    await t.buffer.insert(Capped, { id: 7, hits: 500 });
    await t.buffer.insert(Capped, { id: 7, hits: 5 });
    const first = holdAt('query', insertInto('r5_capped'));
    const flushing = t.buffer.flush();
    await first.reached;
    const second = holdAt('query', insertInto('r5_capped'));
    first.release();
    await second.reached;
    await expectHitsOf7(t, flushing, second.release);
  });

  // maxBatchRows 2 claims [insert 7 (refused), insert 8] and leaves the second insert of 7
  // pending; the claim took the pending index of 7 with its first insert, and nothing indexes
  // the second. While [insert 8] commits (its part after the bisection), get() of row 7 reads 0,
  // the pending insert unseen, though the flush goes on to create the row from it. Every
  // storage indexes only the first pending insert of a key (memory `TableState.inserted`, lmdb
  // `k`, Redis `ink`) and drops the entry when a claim takes that insert; re-indexing the next
  // one needs a scan of what stays pending (or a count per key kept by every insert).
  it.failing(
    'get() sees a pending second insert of a row while the first is set aside',
    async () => {
      const t = await open(kind, storage, [], { flush: { maxBatchRows: 2 } });
      await t.buffer.insert(Capped, { id: 7, hits: 500 });
      await t.buffer.insert(Capped, { id: 8, hits: 1 });
      await t.buffer.insert(Capped, { id: 7, hits: 5 });
      const gate = holdAt('commit');
      const flushing = t.buffer.flush();
      await gate.reached;
      await expectHitsOf7(t, flushing, gate.release);
    },
  );
});

const shared = matrix.filter(([, storage]) => storage === 'lmdb' || storage === 'redis');

describe.each(shared)('a bisection in flight read by another app (%s, %s)', (kind, storage) => {
  it('get(), getMany() and overlay() of upserted rows equal the database after the flushes', async () => {
    const features = [{ entity: PageDailyViews }];
    const options = storageOptions(storage);
    const t = await open(kind, options, features);
    const reader = await open(kind, options, features, {}, t.database);
    // Apps close last opened first: the reader, then the app that drops the database.
    await bisectedUpserts(t, reader);
  });
});

// The lease expires while one app's batch is held before its UPDATE (its ledger row written,
// not committed); the other app takes the lease and applies that batch while it is held.
describe.each(
  kinds.filter((k) => k === 'postgres' && storages.includes('redis')).map((k) => [k] as const),
)('a batch held by an app whose lease expired (%s, redis)', (kind) => {
  it('is applied once, by the app that took the lease over; get() is exact throughout', async () => {
    const options = storageOptions('redis');
    const a = await open(kind, options);
    const b = await open(kind, options, [], {}, a.database);
    const repo = a.dataSource.getRepository(Post);
    await repo.insert({ id: 1, views: 10 });
    await a.buffer.increment(Post, 1, 'views', 5);
    const gate = holdAt('query', UPDATE_STATEMENT);
    const failing = a.buffer.flush().then(
      () => 'applied',
      (error: Error) => error.name,
    );
    await gate.reached;
    const redis = new Redis(REDIS_URL);
    let taking: Promise<unknown> | undefined;
    const during: number[] = [];
    try {
      const prefix = (options as { keyPrefix: string }).keyPrefix;
      expect(await redis.del(`${prefix}{default}:lease`)).toBe(1);
      await b.buffer.increment(Post, 1, 'views', 1);
      during.push(await b.buffer.get(Post, 1, 'views'));
      taking = b.buffer.flush();
      // The other app now waits on the held batch's ledger row.
      await new Promise((resolve) => setTimeout(resolve, 200));
      during.push(await b.buffer.get(Post, 1, 'views'), await a.buffer.get(Post, 1, 'views'));
    } finally {
      gate.release();
      redis.disconnect();
    }
    expect(await failing).toBe('LeaseLostError');
    await taking;
    await a.buffer.flush();
    expect((await repo.findOneByOrFail({ id: 1 })).views).toBe(16);
    expect(during).toEqual([16, 16, 16]);
    expect(await a.buffer.get(Post, 1, 'views')).toBe(16);
  });
});
