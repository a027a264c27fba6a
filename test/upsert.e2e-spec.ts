import 'reflect-metadata';
import { afterAll, afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { Column, Entity, PrimaryColumn } from 'typeorm';
import { WriteBufferConfigError } from '../lib/index.js';
import { databaseKinds, type DatabaseKind } from './support/databases.js';
import { ENTITIES, PageDailyViews, Post, User } from './support/entities.js';
import { holdAt } from './support/query-gate.js';
import {
  closeTestClients,
  storageKinds,
  storageOptions,
  type StorageKind,
} from './support/storages.js';
import { createTestApp, type TestApp } from './support/test-app.js';
import { featureModule } from './support/feature-module.js';

/** A row a flush could not create: `code` is NOT NULL without a default. */
@Entity('not_upsertable')
class NotUpsertable {
  @PrimaryColumn('int')
  id!: number;

  @Column('int', { default: 0 })
  hits!: number;

  @Column('varchar', { length: 20 })
  code!: string;
}

const storages = await storageKinds();
const combos = (await databaseKinds()).flatMap((db) =>
  storages.map((storage) => [db, storage] as [DatabaseKind, StorageKind]),
);

afterAll(closeTestClients);

const day1 = { day: '2026-01-01', pageId: 1 };
const day1page2 = { day: '2026-01-01', pageId: 2 };
const day2 = { day: '2026-01-02', pageId: 1 };

describe.each(combos)("onMissingRow: 'insert' on %s with %s storage", (kind, storageKind) => {
  let t: TestApp;

  beforeEach(async () => {
    t = await createTestApp(
      kind,
      { storage: storageOptions(storageKind) },
      {
        entities: [...ENTITIES, PageDailyViews],
        imports: [
          featureModule([
            { entity: PageDailyViews, onMissingRow: 'insert' },
            { entity: Post, onMissingRow: 'insert' },
            { entity: User, onMissingRow: 'insert', merge: { lastSeenAt: 'max' } },
          ]),
        ],
      },
    );
    await t.dataSource.getRepository(PageDailyViews).insert({ ...day1, views: 5 });
    await t.dataSource.getRepository(Post).insert({ id: 1, title: 'one', views: 7 });
    t.queries.reset();
  });
  afterEach(() => t.close());

  const row = (id: { day: string; pageId: number }) =>
    t.dataSource.getRepository(PageDailyViews).findOneBy(id);

  it('upserts a max-merged column: an existing greater value stays, a created row takes the buffered one', async () => {
    const users = t.dataSource.getRepository(User);
    const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second));
    await users.insert({ id: 1, lastSeenAt: at(50) });
    await t.buffer.update(User, 1, { lastSeenAt: at(10), name: 'one' });
    await t.buffer.update(User, 2, { lastSeenAt: at(30) });
    await t.buffer.update(User, 2, { lastSeenAt: at(20) });
    expect(await t.buffer.get(User, 1, 'lastSeenAt')).toEqual(at(50));
    expect(await t.buffer.flush()).toMatchObject({ missing: [], deadLettered: 0 });
    expect(await users.findOneByOrFail({ id: 1 })).toMatchObject({
      lastSeenAt: at(50),
      name: 'one',
    });
    expect(await users.findOneByOrFail({ id: 2 })).toMatchObject({ lastSeenAt: at(30) });
  });

  it('creates missing rows and adds to existing ones, one statement per table, get() exact', async () => {
    await t.buffer.increment(PageDailyViews, day1, 'views', 3);
    await t.buffer.increment(PageDailyViews, day1page2, 'views', 4);
    await t.buffer.increment(PageDailyViews, day2, 'views');
    await t.buffer.increment(PageDailyViews, day2, 'views');
    await t.buffer.increment(Post, 1, 'views', 2);
    await t.buffer.increment(Post, 2, 'likes', 3);
    expect(await t.buffer.get(PageDailyViews, day1, 'views')).toBe(8);
    expect(await t.buffer.get(PageDailyViews, day1page2, 'views')).toBe(4);
    expect(await t.buffer.get(PageDailyViews, day2, 'views')).toBe(2);
    expect(await t.buffer.get(Post, 2, 'likes')).toBe(3);

    t.queries.reset();
    const report = await t.buffer.flush();
    expect(report).toMatchObject({ incremented: 5, missing: [], deadLettered: 0 });
    // Per table, one upsert creating the missing rows and adding to the
    // others: statements do not grow with rows.
    expect(t.queries.writes()).toHaveLength(2);

    expect(await row(day1)).toMatchObject({ views: 8, credits: 100, referrer: null });
    expect(await row(day1page2)).toMatchObject({ views: 4, credits: 100, referrer: null });
    expect(await row(day2)).toMatchObject({ views: 2, credits: 100 });
    const post2 = await t.dataSource.getRepository(Post).findOneByOrFail({ id: 2 });
    expect(post2).toMatchObject({ title: '', views: 0, likes: 3 });
    expect(await t.dataSource.getRepository(Post).findOneByOrFail({ id: 1 })).toMatchObject({
      views: 9,
    });
    expect(await t.buffer.get(PageDailyViews, day1, 'views')).toBe(8);
    expect(await t.buffer.get(PageDailyViews, day2, 'views')).toBe(2);
    expect((await t.buffer.stats()).missingRows).toBe(0);
    expect(await t.buffer.deadLetters()).toEqual([]);
  });

  it('runs one statement for many rows, new and existing', async () => {
    const day = '2026-02-01';
    await t.dataSource
      .getRepository(PageDailyViews)
      .insert(Array.from({ length: 100 }, (_, i) => ({ day, pageId: i + 1, views: 1 })));
    for (let pageId = 1; pageId <= 300; pageId++) {
      await t.buffer.increment(PageDailyViews, { day, pageId }, 'views', 2);
    }
    t.queries.reset();
    expect(await t.buffer.flush()).toMatchObject({ incremented: 300, missing: [] });
    // One upsert adds to the 100 rows that exist and creates the 200 others.
    expect(t.queries.writes()).toHaveLength(1);
    const rows = await t.dataSource.getRepository(PageDailyViews).findBy({ day });
    expect(rows).toHaveLength(300);
    expect(rows.filter((r) => r.views === 3)).toHaveLength(100);
    expect(rows.filter((r) => r.views === 2)).toHaveLength(200);
  });

  it('starts a created counter at its default: default plus the delta', async () => {
    await t.buffer.increment(PageDailyViews, day2, 'credits', 5);
    await t.buffer.increment(PageDailyViews, day1, 'credits', -1);
    expect(await t.buffer.get(PageDailyViews, day2, 'credits')).toBe(105);
    expect(await t.buffer.get(PageDailyViews, day2, 'views')).toBe(0);
    await t.buffer.flush();
    expect(await row(day2)).toMatchObject({ views: 0, credits: 105 });
    expect(await row(day1)).toMatchObject({ views: 5, credits: 99 });
    expect(await t.buffer.get(PageDailyViews, day2, 'credits')).toBe(105);
    // Created, the row now adds like any other.
    await t.buffer.increment(PageDailyViews, day2, 'credits', 5);
    await t.buffer.flush();
    expect(await row(day2)).toMatchObject({ credits: 110 });
  });

  it('upserts updates: sets columns of existing rows, creates missing ones, then counts on top', async () => {
    await t.buffer.update(PageDailyViews, day1, { referrer: 'search' });
    await t.buffer.update(PageDailyViews, day2, { referrer: 'mail', views: 10 });
    await t.buffer.increment(PageDailyViews, day2, 'views', 2);
    expect(await t.buffer.get(PageDailyViews, day2, 'views')).toBe(12);
    t.queries.reset();
    const report = await t.buffer.flush();
    expect(report).toMatchObject({ updated: 2, incremented: 1, missing: [] });
    // Two column sets of updates (the second creating its row), one of counters.
    expect(t.queries.writes()).toHaveLength(3);
    expect(await row(day1)).toMatchObject({ views: 5, credits: 100, referrer: 'search' });
    expect(await row(day2)).toMatchObject({ views: 12, credits: 100, referrer: 'mail' });
  });

  it('adds to a row the app created between the claim and the apply: no double, no loss', async () => {
    await t.buffer.increment(PageDailyViews, day2, 'views', 3);
    await t.buffer.increment(PageDailyViews, day2, 'credits', 5);
    const gate = holdAt('query', /^INSERT (IGNORE )?INTO \S*write_buffer_ledger/i);
    const flushing = t.buffer.flush();
    await gate.reached;
    await t.dataSource.getRepository(PageDailyViews).insert({ ...day2, views: 10, credits: 1 });
    gate.release();
    await flushing;
    expect(await row(day2)).toMatchObject({ views: 13, credits: 6 });
    expect(await t.buffer.get(PageDailyViews, day2, 'views')).toBe(13);
    expect(await t.buffer.get(PageDailyViews, day2, 'credits')).toBe(6);
    await t.buffer.flush();
    expect(await row(day2)).toMatchObject({ views: 13, credits: 6 });
  });
});

describe("onMissingRow: 'insert' at start-up", () => {
  it('fails naming the columns a created row could not have', async () => {
    const failure = createTestApp(
      'sqlite',
      {},
      {
        entities: [...ENTITIES, NotUpsertable],
        imports: [featureModule([{ entity: NotUpsertable, onMissingRow: 'insert' }])],
      },
    );
    await expect(failure).rejects.toBeInstanceOf(WriteBufferConfigError);
    await expect(failure).rejects.toThrow(
      "forFeature(NotUpsertable).onMissingRow 'insert' cannot create rows of entity NotUpsertable: " +
        "'code' is NOT NULL without a default.",
    );
  });

  it("stays a per-entity option: the module's onMissingRow refuses it", async () => {
    const failure = createTestApp('sqlite', {
      onMissingRow: 'insert' as unknown as 'drop',
    });
    await expect(failure).rejects.toThrow(/^onMissingRow must be one of 'dead-letter', 'drop'/);
  });
});
