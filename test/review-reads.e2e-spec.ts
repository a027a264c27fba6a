import 'reflect-metadata';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { Module, type DynamicModule } from '@nestjs/common';
import { Column, Entity, In, PrimaryColumn } from 'typeorm';
import { WriteBufferModule } from '../lib/index.js';
import { databaseKinds, createTestDatabase, type TestDatabase } from './support/databases.js';
import {
  ENTITIES,
  PageDailyViews,
  Post,
  typedRowSchema,
  type TypedRow,
} from './support/entities.js';
import { UPDATE_STATEMENT } from './support/query-counter.js';
import { holdAt } from './support/query-gate.js';
import { closeTestClients, storageKinds, storageOptions } from './support/storages.js';
import { createTestApp, type TestApp } from './support/test-app.js';

/** Counters held in an embedded object: their property paths are `counts.views`, `counts.likes`. */
class Counts {
  @Column('int', { default: 0 })
  views!: number;

  @Column('int', { default: 0 })
  likes!: number;
}

@Entity('review_embedded_post')
class EmbeddedPost {
  @PrimaryColumn('int')
  id!: number;

  @Column(() => Counts)
  counts!: Counts;
}

const kinds = await databaseKinds();
const apps: TestApp[] = [];
const databases: TestDatabase[] = [];
afterAll(closeTestClients);
afterEach(async () => {
  while (apps.length) await apps.pop()!.close();
  while (databases.length) await databases.pop()!.drop();
});

describe.each(kinds)('overlay() on embedded counters (%s)', (kind) => {
  it('adds what is buffered to counters of an embedded object, as get() reads them', async () => {
    const t = await createTestApp(kind, {}, { entities: [...ENTITIES, EmbeddedPost] });
    apps.push(t);
    const repo = t.dataSource.getRepository(EmbeddedPost);
    await repo.insert({ id: 1, counts: { views: 10, likes: 1 } });
    await t.buffer.increment(EmbeddedPost, 1, 'counts.views' as 'id', 5);
    expect(await t.buffer.get(EmbeddedPost, 1, 'counts.views' as 'id')).toBe(15);
    expect(await t.buffer.getMany(EmbeddedPost, [1])).toEqual([
      { 'counts.views': 15, 'counts.likes': 1 },
    ]);
    const rows = await repo.findBy({ id: 1 });
    await t.buffer.overlay(EmbeddedPost, rows);
    expect(rows[0].counts).toMatchObject({ views: 15, likes: 1 });
    await t.buffer.flush();
    expect((await repo.findOneByOrFail({ id: 1 })).counts.views).toBe(15);
  });
});

describe.each(kinds.filter((k) => k !== 'sqlite'))(
  'overlay() leaves cells with nothing buffered as loaded (%s)',
  (kind) => {
    it('keeps a bigint beyond 2^53, a decimal and a NULL exactly as the database holds them', async () => {
      const t = await createTestApp(kind, {}, { entities: [typedRowSchema(kind)] });
      apps.push(t);
      const repo = t.dataSource.getRepository<TypedRow>('TypedRow');
      await repo.insert({ id: 1, big: '9007199254740993', num: '12.3400', small: null } as never);
      await repo.insert({ id: 2, big: '5', num: '1.5000', small: 3 } as never);
      await t.buffer.increment('TypedRow', 2, 'small', 1);
      const rows = await repo.find({ where: { id: In([1, 2]) }, order: { id: 'ASC' } });
      const before = { ...rows[0] };
      await t.buffer.overlay('TypedRow', rows, ['big', 'num', 'small']);
      // Row 1 has nothing buffered: overlay() must not change it.
      expect(rows[0]).toEqual(before);
      expect(rows[1].small).toBe(4);
      // Saving the overlaid row back writes what the database held.
      await repo.save(rows[0]);
      expect((await repo.findOneByOrFail({ id: 1 })).big).toBe('9007199254740993');
    });
  },
);

const storages = (await storageKinds()).filter((s) => s === 'redis' || s === 'lmdb');
const shared = kinds.flatMap((kind) => storages.map((storage) => [kind, storage] as const));

describe.each(shared)(
  "overlay() in one process while another process's batch is in flight (%s, %s)",
  (kind, storageKind) => {
    it('reads the rows of the other batch again, exactly, before and after its commit', async () => {
      const database = await createTestDatabase(kind);
      databases.push(database);
      const storage = storageOptions(storageKind);
      const a = await createTestApp(kind, { storage }, { database });
      apps.push(a);
      const b = await createTestApp(kind, { storage }, { database });
      apps.push(b);
      const repo = b.dataSource.getRepository(Post);
      await repo.insert([
        { id: 1, views: 10 },
        { id: 2, views: 20 },
      ]);
      await a.buffer.increment(Post, 1, 'views', 5);
      const load = () => repo.find({ where: { id: In([1, 2]) }, order: { id: 'ASC' } });
      for (const when of ['query', 'commit'] as const) {
        const gate = when === 'query' ? holdAt('query', UPDATE_STATEMENT) : holdAt('commit');
        const flushing = a.buffer.flush();
        await gate.reached;
        await b.buffer.increment(Post, 2, 'views', 1);
        const rows = await load();
        await b.buffer.overlay(Post, rows);
        const expected = [
          await b.buffer.get(Post, 1, 'views'),
          await b.buffer.get(Post, 2, 'views'),
        ];
        expect(rows.map((r) => r.views)).toEqual(expected);
        expect(await b.buffer.getMany(Post, [1, 2], ['views'])).toEqual(
          expected.map((views) => ({ views })),
        );
        gate.release();
        await flushing;
        await a.buffer.increment(Post, 1, 'views', 5);
      }
      await a.buffer.flush();
      await b.buffer.flush();
      expect((await load()).map((r) => r.views)).toEqual([25, 22]);
    });
  },
);

const bisected = kinds.flatMap((kind) =>
  (['memory', 'redis'] as const)
    .filter((s) => s === 'memory' || storages.includes(s))
    .map((storage) => [kind, storage] as const),
);

describe.each(bisected)(
  'getMany() while a bisection is in progress (%s, %s)',
  (kind, storageKind) => {
    it('equals get() and the database after the flush, with the first half committed', async () => {
      const t = await createTestApp(kind, { storage: storageOptions(storageKind) });
      apps.push(t);
      const repo = t.dataSource.getRepository(Post);
      await repo.insert([
        { id: 1, views: 10 },
        { id: 2, views: 20 },
      ]);
      await t.buffer.increment(Post, 1, 'views', 5);
      await t.buffer.increment(Post, 2, 'likes', 2);
      // A duplicate key: the batch is refused for a data error and bisected.
      await t.buffer.insert(Post, { id: 2, title: 'dup' });
      const gate = holdAt('commit');
      const flushing = t.buffer.flush();
      await gate.reached;
      await t.buffer.increment(Post, 1, 'views', 1);
      const ids = [1, 2];
      const expected = [];
      for (const id of ids) {
        expected.push({
          views: await t.buffer.get(Post, id, 'views'),
          likes: await t.buffer.get(Post, id, 'likes'),
        });
      }
      expect(await t.buffer.getMany(Post, ids, ['views', 'likes'])).toEqual(expected);
      const rows = await repo.find({ where: { id: In([1, 2]) }, order: { id: 'ASC' } });
      await t.buffer.overlay(Post, rows, ['views', 'likes']);
      expect(rows.map(({ views, likes }) => ({ views, likes }))).toEqual(expected);
      gate.release();
      await flushing;
      await t.buffer.flush();
      expect(await t.buffer.getMany(Post, ids, ['views', 'likes'])).toEqual(expected);
      const stored = await repo.find({ where: { id: In([1, 2]) }, order: { id: 'ASC' } });
      expect(stored.map(({ views, likes }) => ({ views, likes }))).toEqual(expected);
      expect(expected).toEqual([
        { views: 16, likes: 0 },
        { views: 20, likes: 2 },
      ]);
      expect((await t.buffer.deadLetters()).length).toBe(1);
    });
  },
);

const clustered = (await storageKinds()).filter((s) => s === 'redis' || s === 'redis-cluster');

describe.each(clustered)('getMany() of many ids in one storage read (%s)', (storageKind) => {
  it('reads 30,000 ids of three columns exactly', async () => {
    const t = await createTestApp('sqlite', { storage: storageOptions(storageKind) });
    apps.push(t);
    await t.dataSource.getRepository(Post).insert([{ id: 1, views: 4 }, { id: 30_000 }]);
    await t.buffer.increment(Post, 30_000, 'likes', 2);
    await t.buffer.increment(Post, 1, 'views', 1);
    await t.buffer.increment(Post, 29_999, 'score', 0.5);
    const ids = Array.from({ length: 30_000 }, (_, i) => i + 1);
    const many = await t.buffer.getMany(Post, ids);
    expect([many[0], many[1], many[29_998], many[29_999]]).toEqual([
      { views: 5, likes: 0, score: 0 },
      { views: 0, likes: 0, score: 0 },
      { views: 0, likes: 0, score: 0.5 },
      { views: 0, likes: 2, score: 0 },
    ]);
  });
});

/** `PageDailyViews` upserted: a flush creates its missing rows. */
function upserting(): DynamicModule {
  @Module({
    imports: [WriteBufferModule.forFeature([{ entity: PageDailyViews, onMissingRow: 'insert' }])],
  })
  class StatsModule {}
  return { module: StatsModule };
}

describe.each(kinds)('getMany() of upserted rows (%s)', (kind) => {
  it('reads a missing row from its column defaults, before, during and after the flush creating it', async () => {
    const t = await createTestApp(
      kind,
      {},
      { entities: [...ENTITIES, PageDailyViews], imports: [upserting()] },
    );
    apps.push(t);
    const repo = t.dataSource.getRepository(PageDailyViews);
    await repo.insert({ day: '2026-01-01', pageId: 1, views: 3, credits: 7 });
    const ids = [
      { day: '2026-01-01', pageId: 1 },
      { day: '2026-01-02', pageId: 1 },
      { day: '2026-01-02', pageId: '1' },
    ];
    await t.buffer.increment(PageDailyViews, ids[0], 'views', 2);
    await t.buffer.increment(PageDailyViews, ids[1], 'views', 5);
    await t.buffer.increment(PageDailyViews, ids[2], 'credits', -1);
    const expected = [
      { views: 5, credits: 7 },
      { views: 5, credits: 99 },
      { views: 5, credits: 99 },
    ];
    expect(await t.buffer.getMany(PageDailyViews, ids)).toEqual(expected);
    const gate = holdAt('commit');
    const flushing = t.buffer.flush();
    await gate.reached;
    expect(await t.buffer.getMany(PageDailyViews, ids)).toEqual(expected);
    gate.release();
    await flushing;
    expect(await t.buffer.getMany(PageDailyViews, ids)).toEqual(expected);
    const rows = await repo.find({ order: { day: 'ASC' } });
    expect(rows.map(({ views, credits }) => ({ views, credits }))).toEqual(expected.slice(0, 2));
  });
});
