import 'reflect-metadata';
import { afterAll, afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { In } from 'typeorm';
import {
  InvalidIdError,
  InvalidValueError,
  MemoryStorage,
  UnsuitableColumnError,
  type BufferStorage,
} from '../lib/index.js';
import { databaseKinds } from './support/databases.js';
import { Membership, Post, User } from './support/entities.js';
import { UPDATE_STATEMENT } from './support/query-counter.js';
import { holdAt } from './support/query-gate.js';
import { closeTestClients, databaseStorageMatrix, storageOptions } from './support/storages.js';
import { createTestApp, type TestApp } from './support/test-app.js';

const combos = await databaseStorageMatrix();

afterAll(closeTestClients);

const COLUMNS = ['views', 'likes', 'score'] as const;

describe.each(combos)('getMany() and overlay() on %s with %s storage', (kind, storageKind) => {
  let t: TestApp;

  beforeEach(async () => {
    t = await createTestApp(kind, { storage: storageOptions(storageKind) });
    const posts = Array.from({ length: 100 }, (_, i) => ({
      id: i + 1,
      title: `p${i + 1}`,
      views: i * 10,
      likes: i,
    }));
    await t.dataSource.getRepository(Post).insert(posts);
    t.queries.reset();
  });
  afterEach(() => t.close());

  /** What per-row `get()` answers, the reference both must equal. */
  const perRow = async (ids: unknown[], columns: readonly string[] = COLUMNS) => {
    const rows: Array<Record<string, number>> = [];
    for (const id of ids) {
      const row: Record<string, number> = {};
      for (const column of columns) {
        row[column] = await t.buffer.get(Post, id, column as 'views');
      }
      rows.push(row);
    }
    return rows;
  };
  const counts = (posts: Post[]) =>
    posts.map(({ views, likes, score }) => ({ views, likes, score }));
  const loaded = (ids: number[]) =>
    t.dataSource.getRepository(Post).find({ where: { id: In(ids) }, order: { id: 'ASC' } });

  /** Writes of every kind: increments, a set then an increment, a buffered insert. */
  const writeSome = async () => {
    await t.buffer.increment(Post, 1, 'views', 5);
    await t.buffer.increment(Post, 2, 'likes', 2);
    await t.buffer.update(Post, 3, { views: 1000 });
    await t.buffer.increment(Post, 3, 'views', 1);
    await t.buffer.increment(Post, 4, 'score', 0.5);
    await t.buffer.insert(Post, { id: 500, title: 'new', views: 7 });
    await t.buffer.increment(Post, 500, 'likes', 3);
  };

  it('reads what get() reads, row by row, in the order of the ids', async () => {
    await writeSome();
    const ids = [3, 1, 500, 999, 2, 1, 4, 10];
    const many = await t.buffer.getMany(Post, ids);
    expect(many).toEqual(await perRow(ids));
    expect(many[0]).toEqual({ views: 1001, likes: 2, score: 0 });
    // A buffered insert reads as inserted; a row that does not exist as 0 plus what is buffered.
    expect(many[2]).toEqual({ views: 7, likes: 3, score: 0 });
    expect(many[3]).toEqual({ views: 0, likes: 0, score: 0 });
    expect(await t.buffer.getMany(Post, ['2', 2], ['likes'])).toEqual([{ likes: 3 }, { likes: 3 }]);
    expect(await t.buffer.getMany(Post, [])).toEqual([]);
  });

  it('runs one statement for 100 rows', async () => {
    await writeSome();
    const ids = Array.from({ length: 100 }, (_, i) => i + 1);
    t.queries.reset();
    const many = await t.buffer.getMany(Post, ids, ['views', 'likes']);
    expect(t.queries.queries).toHaveLength(1);
    expect(many[99]).toEqual({ views: 990, likes: 99 });
    expect(many).toEqual(await perRow(ids, ['views', 'likes']));
  });

  it('reads composite keys', async () => {
    await t.dataSource.getRepository(Membership).insert({ orgId: 'eu', userId: 1, points: 4 });
    await t.buffer.increment(Membership, { orgId: 'eu', userId: 1 }, 'points', 2);
    await t.buffer.increment(Membership, { orgId: 'us', userId: 1 }, 'points', 1);
    expect(
      await t.buffer.getMany(Membership, [
        { orgId: 'us', userId: 1 },
        { orgId: 'eu', userId: '1' },
      ]),
    ).toEqual([{ points: 1 }, { points: 6 }]);
  });

  it('overlay() adds pending writes to loaded rows without any statement', async () => {
    await writeSome();
    const posts = await loaded([1, 2, 3, 4, 5]);
    t.queries.reset();
    const same = await t.buffer.overlay(Post, posts);
    expect(t.queries.queries).toEqual([]);
    expect(same).toBe(posts);
    expect(counts(posts)).toEqual(await perRow([1, 2, 3, 4, 5]));
    expect(posts[2]).toMatchObject({ id: 3, title: 'p3', views: 1001, likes: 2 });
  });

  it('overlay() leaves columns the rows were loaded without', async () => {
    await t.buffer.increment(Post, 1, 'likes', 4);
    await t.buffer.increment(Post, 1, 'views', 1);
    const [post] = await t.dataSource
      .getRepository(Post)
      .find({ select: { id: true, views: true }, where: { id: 1 } });
    await t.buffer.overlay(Post, [post]);
    expect(post).toEqual({ id: 1, views: 1 });
  });

  it('getMany() and overlay() equal get() while a flush is held between claim and commit', async () => {
    await writeSome();
    const gate = holdAt('query', UPDATE_STATEMENT);
    const flushing = t.buffer.flush();
    await gate.reached;
    // In flight, not committed; more writes pending on top.
    await t.buffer.increment(Post, 1, 'views', 2);
    await t.buffer.increment(Post, 5, 'likes', 1);
    const ids = [1, 2, 3, 4, 5, 500];
    const expected = await perRow(ids);
    expect(await t.buffer.getMany(Post, ids)).toEqual(expected);
    const posts = await loaded([1, 2, 3, 4, 5]);
    await t.buffer.overlay(Post, posts);
    expect(counts(posts)).toEqual(expected.slice(0, 5));
    gate.release();
    await flushing;
    expect(await t.buffer.getMany(Post, ids)).toEqual(expected);
  });

  it('getMany() and overlay() equal get() between a flush commit and its ack', async () => {
    await writeSome();
    const gate = holdAt('commit');
    const flushing = t.buffer.flush();
    await gate.reached;
    // Committed (the database holds the batch) but still in flight.
    expect((await loaded([1]))[0].views).toBe(5);
    await t.buffer.increment(Post, 1, 'views', 2);
    const ids = [1, 2, 3, 4, 5, 500];
    const expected = await perRow(ids);
    expect(expected[0].views).toBe(7);
    expect(await t.buffer.getMany(Post, ids)).toEqual(expected);
    const posts = await loaded([1, 2, 3, 4, 5]);
    t.queries.reset();
    await t.buffer.overlay(Post, posts);
    // The rows a batch in flight touches are read again, in one statement.
    expect(t.queries.queries).toHaveLength(1);
    expect(counts(posts)).toEqual(expected.slice(0, 5));
    gate.release();
    await flushing;
    expect(await t.buffer.getMany(Post, ids)).toEqual(expected);
  });

  it('getMany() re-reads when a whole flush happens between its storage read and its database read', async () => {
    await t.buffer.increment(Post, 1, 'views', 5);
    const gate = holdAt('query', /^SELECT (0 AS|json_group_array|"r"\."rows")/);
    const reading = t.buffer.getMany(Post, [1, 2], ['views']);
    await gate.reached;
    await t.buffer.flush();
    gate.release();
    expect(await reading).toEqual([{ views: 5 }, { views: 10 }]);
  });

  it('refuses bad input clearly and reads nothing', async () => {
    t.queries.reset();
    await expect(t.buffer.getMany(Post, [1, 'abc'])).rejects.toThrow(InvalidIdError);
    await expect(t.buffer.getMany(Post, 1 as unknown as unknown[])).rejects.toThrow(
      /^getMany\(\) for entity Post takes an array of ids, not 1\.$/,
    );
    await expect(t.buffer.getMany(Post, [1], ['title' as 'views'])).rejects.toThrow(
      UnsuitableColumnError,
    );
    await expect(t.buffer.getMany(Post, [1], [])).rejects.toThrow(
      /empty list: name at least one of 'views', 'likes', 'score'/,
    );
    const user = Object.assign(new User(), { id: 1 });
    await expect(t.buffer.overlay(Post, [user as unknown as Post])).rejects.toThrow(
      /^Row 0 given to overlay\(\) for entity Post is a User: pass the rows of Post only\.$/,
    );
    await expect(t.buffer.overlay(Post, [{ views: 1 } as Post])).rejects.toThrow(
      /^Row 0 given to overlay\(\) for entity Post has no value for its primary column\(s\) 'id'/,
    );
    await expect(t.buffer.overlay(Post, {} as Post[])).rejects.toThrow(InvalidValueError);
    expect(t.queries.queries).toEqual([]);
  });
});

describe.each(await databaseKinds())(
  'getMany() on a custom storage without readMany (%s)',
  (kind) => {
    it('reads cell by cell and stays exact', async () => {
      const inner: BufferStorage = new MemoryStorage();
      // A storage as one written before readMany existed: `read` alone.
      const storage = new Proxy(inner, {
        get: (target, name) => {
          if (name === 'readMany') return undefined;
          const value = Reflect.get(target, name) as unknown;
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      const t = await createTestApp(kind, { storage: { type: 'custom', instance: storage } });
      try {
        await t.dataSource.getRepository(Post).insert([{ id: 1, views: 1 }, { id: 2 }]);
        await t.buffer.increment(Post, 1, 'views', 2);
        await t.buffer.increment(Post, 2, 'likes', 3);
        expect(await t.buffer.getMany(Post, [1, 2], ['views', 'likes'])).toEqual([
          { views: 3, likes: 0 },
          { views: 0, likes: 3 },
        ]);
        const posts = await t.dataSource.getRepository(Post).find({ order: { id: 'ASC' } });
        await t.buffer.overlay(Post, posts);
        expect(posts.map((p) => [p.views, p.likes])).toEqual([
          [3, 0],
          [0, 3],
        ]);
      } finally {
        await t.close();
      }
    });
  },
);

describe.each(await databaseKinds())(
  'getMany() of more ids than one statement binds (%s)',
  (kind) => {
    it('reads them in chunks, each exact', async () => {
      const t = await createTestApp(kind);
      try {
        await t.dataSource.getRepository(Post).insert([{ id: 1, views: 4 }, { id: 60_000 }]);
        await t.buffer.increment(Post, 60_000, 'views', 2);
        await t.buffer.increment(Post, 1, 'views', 1);
        const ids = Array.from({ length: 60_000 }, (_, i) => i + 1);
        t.queries.reset();
        const many = await t.buffer.getMany(Post, ids, ['views']);
        // SQLite binds 16,383 keys a statement, MariaDB 5,000, PostgreSQL 50,000.
        expect(t.queries.queries.length).toBeGreaterThan(1);
        expect(many).toHaveLength(60_000);
        expect([many[0], many[1], many[59_999]]).toEqual([
          { views: 5 },
          { views: 0 },
          { views: 2 },
        ]);
      } finally {
        await t.close();
      }
    });
  },
);
