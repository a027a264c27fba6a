import { UPDATE_STATEMENT } from './support/query-counter.js';
import 'reflect-metadata';
import { afterAll, afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { faultyStorage } from './support/faulty-storage.js';
import { InconsistentReadError, MemoryStorage } from '../lib/index.js';
import { createStorage } from '../lib/storage/create-storage.js';
import { databaseKinds, type DatabaseKind } from './support/databases.js';
import { ActivityLog, DownloadSchema, Membership, Post, User } from './support/entities.js';
import { holdAt } from './support/query-gate.js';
import {
  closeTestClients,
  storageKinds,
  storageOptions,
  type StorageKind,
} from './support/storages.js';
import { createTestApp, type TestApp } from './support/test-app.js';

const storages = await storageKinds();
const combos = (await databaseKinds()).flatMap((db) =>
  storages.map((storage) => [db, storage] as [DatabaseKind, StorageKind]),
);

afterAll(closeTestClients);

describe.each(combos)('BufferService on %s with %s storage', (kind, storageKind) => {
  let t: TestApp;

  beforeEach(async () => {
    t = await createTestApp(kind, { storage: storageOptions(storageKind) });
    const posts = Array.from({ length: 10 }, (_, i) => ({ id: i + 1, title: `p${i + 1}` }));
    await t.dataSource.getRepository(Post).insert(posts);
    await t.dataSource.getRepository(User).insert([{ id: 1 }, { id: 2 }]);
    t.queries.reset();
  });
  afterEach(() => t.close());

  const views = async (id: number) =>
    (await t.dataSource.getRepository(Post).findOneByOrFail({ id })).views;

  describe('counters', () => {
    it('turns N increments of one row into one UPDATE and keeps get() exact', async () => {
      for (let i = 0; i < 50; i++) await t.buffer.increment(Post, 1, 'views');
      await t.buffer.increment(Post, 1, 'views', 5);
      expect(await views(1)).toBe(0);
      expect(await t.buffer.get(Post, 1, 'views')).toBe(55);

      t.queries.reset();
      const report = await t.buffer.flush();
      expect(t.queries.writes()).toHaveLength(1);
      expect(report).toMatchObject({ batches: 1, incremented: 1, missing: [] });
      expect(await views(1)).toBe(55);
      expect(await t.buffer.get(Post, 1, 'views')).toBe(55);
    });

    it('adds to what the database holds when someone else changed it between flushes', async () => {
      await t.buffer.increment(Post, 2, 'views', 3);
      await t.dataSource.getRepository(Post).update({ id: 2 }, { views: 100 });
      expect(await t.buffer.get(Post, 2, 'views')).toBe(103);
      await t.buffer.flush();
      expect(await views(2)).toBe(103);
    });

    it('accepts route-param ids: "42" and 42 are the same row', async () => {
      await t.buffer.increment(Post, '3', 'views');
      await t.buffer.increment(Post, 3, 'views');
      expect(await t.buffer.get(Post, '3', 'views')).toBe(2);
      await t.buffer.flush();
      expect(await views(3)).toBe(2);
    });

    it('counts fractional deltas on float columns', async () => {
      await t.buffer.increment(Post, 1, 'score', 0.5);
      await t.buffer.increment(Post, 1, 'score', 0.25);
      // A whole delta on top of a buffered fraction.
      await t.buffer.increment(Post, 1, 'score', 2);
      expect(await t.buffer.get(Post, 1, 'score')).toBeCloseTo(2.75);
      await t.buffer.flush();
      expect((await t.dataSource.getRepository(Post).findOneByOrFail({ id: 1 })).score).toBeCloseTo(
        2.75,
      );
    });

    it('reports counters and updates whose row does not exist instead of counting them as applied', async () => {
      await t.buffer.increment(Post, 999, 'views', 2);
      await t.buffer.update(User, 404, { name: 'ghost' });
      await t.buffer.increment(Post, 1, 'views');
      const report = await t.buffer.flush();
      expect(report.incremented).toBe(1);
      expect(report.updated).toBe(0);
      expect(report.missing).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            entity: 'Post',
            id: { id: 999 },
            kind: 'counter',
            values: { views: 2 },
          }),
          expect.objectContaining({
            entity: 'User',
            id: { id: 404 },
            kind: 'update',
            values: { name: 'ghost' },
          }),
        ]),
      );
      expect((await t.buffer.stats()).missingRows).toBe(2);
      expect(await views(1)).toBe(1);
    });

    it('takes an EntitySchema or an entity name', async () => {
      await t.dataSource.getRepository(DownloadSchema).insert({ id: 7, count: 1 });
      await t.buffer.increment(DownloadSchema, 7, 'count', 2);
      await t.buffer.increment('Download', 7, 'count', 3);
      expect(await t.buffer.get('Download', 7, 'count')).toBe(6);
      await t.buffer.flush();
      expect(
        (await t.dataSource.getRepository(DownloadSchema).findOneByOrFail({ id: 7 })).count,
      ).toBe(6);
    });
  });

  describe('updates', () => {
    it('merges patches per column, the last write winning', async () => {
      const seen = new Date('2026-01-02T03:04:05.678Z');
      await t.buffer.update(User, 1, { name: 'first', active: true });
      await t.buffer.update(User, 1, { name: 'second', lastSeenAt: seen });
      await t.buffer.flush();
      expect(t.queries.writes()).toHaveLength(1);
      const user = await t.dataSource.getRepository(User).findOneByOrFail({ id: 1 });
      expect(user).toMatchObject({ name: 'second', active: true });
      expect(user.lastSeenAt?.getTime()).toBe(seen.getTime());
    });

    it('round-trips Date, null, booleans and JSON', async () => {
      const profile = { tags: ['a', 'b'], nested: { n: 1, quote: `it's "x"` }, none: null };
      await t.buffer.update(User, 1, {
        lastSeenAt: new Date('2026-05-06T07:08:09.010Z'),
        profile,
        active: true,
      });
      await t.buffer.update(User, 2, {
        lastSeenAt: null,
        name: null,
        profile: null,
        active: false,
      });
      profile.nested.n = 2; // mutating after the call must not change what was buffered
      await t.buffer.flush();
      const [one, two] = await t.dataSource.getRepository(User).find({ order: { id: 'ASC' } });
      expect(one.lastSeenAt?.toISOString()).toBe('2026-05-06T07:08:09.010Z');
      expect(one.profile).toEqual({
        tags: ['a', 'b'],
        nested: { n: 1, quote: `it's "x"` },
        none: null,
      });
      expect(one.active).toBe(true);
      expect(two).toMatchObject({ lastSeenAt: null, name: null, profile: null, active: false });
    });

    it('does not lose an update written while a flush is running', async () => {
      await t.buffer.update(User, 1, { name: 'before' });
      const gate = holdAt('query', UPDATE_STATEMENT);
      const flushing = t.buffer.flush();
      await gate.reached;
      await t.buffer.update(User, 1, { name: 'during' });
      await t.buffer.update(User, 2, { name: 'during' });
      gate.release();
      await flushing;
      expect((await t.dataSource.getRepository(User).findOneByOrFail({ id: 1 })).name).toBe(
        'before',
      );
      await t.buffer.flush();
      const users = await t.dataSource.getRepository(User).find({ order: { id: 'ASC' } });
      expect(users.map((u) => u.name)).toEqual(['during', 'during']);
    });
  });

  describe('arrival order on one row', () => {
    it('set then increment: the increment adds on top of the set', async () => {
      await t.buffer.increment(User, 1, 'logins', 4);
      await t.buffer.update(User, 1, { logins: 10 });
      await t.buffer.increment(User, 1, 'logins', 2);
      expect(await t.buffer.get(User, 1, 'logins')).toBe(12);
      await t.buffer.flush();
      expect((await t.dataSource.getRepository(User).findOneByOrFail({ id: 1 })).logins).toBe(12);
    });

    it('increment then set: the set wins', async () => {
      await t.buffer.increment(User, 1, 'logins', 4);
      await t.buffer.update(User, 1, { logins: 10 });
      expect(await t.buffer.get(User, 1, 'logins')).toBe(10);
      await t.buffer.flush();
      expect((await t.dataSource.getRepository(User).findOneByOrFail({ id: 1 })).logins).toBe(10);
    });

    it('a set pending behind an in-flight delta applies after it', async () => {
      await t.buffer.increment(User, 1, 'logins', 4);
      const gate = holdAt('query', UPDATE_STATEMENT);
      const flushing = t.buffer.flush();
      await gate.reached;
      await t.buffer.update(User, 1, { logins: 100 });
      await t.buffer.increment(User, 1, 'logins', 1);
      expect(await t.buffer.get(User, 1, 'logins')).toBe(101);
      gate.release();
      await flushing;
      await t.buffer.flush();
      expect((await t.dataSource.getRepository(User).findOneByOrFail({ id: 1 })).logins).toBe(101);
    });

    it('insert then increment of the same row in one window', async () => {
      await t.buffer.insert(Post, { id: 500, title: 'new' });
      await t.buffer.increment(Post, 500, 'views', 7);
      await t.buffer.update(Post, 500, { title: 'renamed' });
      const report = await t.buffer.flush();
      expect(report.missing).toEqual([]);
      expect(await t.dataSource.getRepository(Post).findOneByOrFail({ id: 500 })).toMatchObject({
        title: 'renamed',
        views: 7,
      });
    });
  });

  describe('inserts', () => {
    it('keeps order and chunks above the bind-parameter limit', async () => {
      const at = new Date('2026-03-04T05:06:07.000Z');
      const rows = Array.from({ length: 40_000 }, (_, i) => ({
        postId: i,
        at,
        ip: i % 2 ? null : `10.0.0.${i % 250}`,
      }));
      await t.buffer.insert(ActivityLog, rows.slice(0, 1));
      await t.buffer.insert(ActivityLog, rows.slice(1));
      // (The size trigger may already have started this flush; flush() joins it.)
      await t.buffer.flush();
      // 40,000 rows x 3 columns = 120,000 values: more than one statement on
      // SQLite (32,766 parameters), yet nowhere near one per row.
      const inserts = t.queries.writes().filter((q) => q.startsWith('INSERT'));
      expect(inserts.length).toBeLessThan(10);
      if (kind === 'sqlite') expect(inserts.length).toBeGreaterThan(1);
      const stored = await t.dataSource.getRepository(ActivityLog).find({ order: { id: 'ASC' } });
      expect(stored).toHaveLength(40_000);
      expect(stored.map((r) => r.postId)).toEqual(rows.map((r) => r.postId));
      expect(stored[1].ip).toBeNull();
      expect(stored[2].ip).toBe('10.0.0.2');
      expect(stored[0].at.getTime()).toBe(at.getTime());
    });
  });

  describe('flush', () => {
    it('flushes 1,000 distinct rows over 2 tables in a handful of statements', async () => {
      await t.dataSource
        .getRepository(Post)
        .insert(Array.from({ length: 490 }, (_, i) => ({ id: 11 + i })));
      await t.dataSource
        .getRepository(User)
        .insert(Array.from({ length: 498 }, (_, i) => ({ id: 3 + i })));
      for (let id = 1; id <= 500; id++) await t.buffer.increment(Post, id, 'views', id);
      for (let id = 1; id <= 500; id++) await t.buffer.update(User, id, { name: `u${id}` });
      t.queries.reset();
      const report = await t.buffer.flush();
      expect(report).toMatchObject({ incremented: 500, updated: 500, missing: [] });
      expect(t.queries.writes().length).toBeLessThanOrEqual(4);
      expect(await views(250)).toBe(250);
    });

    it('a flush() called during a running flush resolves only once its data is in the database', async () => {
      await t.buffer.increment(Post, 1, 'views');
      const gate = holdAt('query', UPDATE_STATEMENT);
      const first = t.buffer.flush();
      await gate.reached;
      await t.buffer.increment(Post, 2, 'views', 9);
      let secondDone = false;
      const second = t.buffer.flush().then((r) => ((secondDone = true), r));
      await new Promise((r) => setTimeout(r, 50));
      expect(secondDone).toBe(false);
      gate.release();
      await second;
      expect(await views(2)).toBe(9);
      expect(await views(1)).toBe(1);
      await first;
    });

    it('get() stays exact between a flush commit and its ack', async () => {
      await t.buffer.increment(Post, 1, 'views', 5);
      const gate = holdAt('commit');
      const flushing = t.buffer.flush();
      await gate.reached;
      // The batch is committed (views = 5 in the database) but still in flight.
      expect(await views(1)).toBe(5);
      await t.buffer.increment(Post, 1, 'views', 2);
      expect(await t.buffer.get(Post, 1, 'views')).toBe(7);
      gate.release();
      await flushing;
      expect(await t.buffer.get(Post, 1, 'views')).toBe(7);
    });

    it('get() re-reads when a whole flush happens between its storage read and its database read', async () => {
      await t.buffer.increment(Post, 1, 'views', 5);
      const gate = holdAt('query', /^SELECT 0 AS/);
      const reading = t.buffer.get(Post, 1, 'views');
      await gate.reached;
      await t.buffer.flush();
      gate.release();
      expect(await reading).toBe(5);
    });

    it('flush(entity) flushes only that entity', async () => {
      await t.buffer.increment(Post, 1, 'views');
      await t.buffer.update(User, 1, { name: 'later' });
      await t.buffer.flush(Post);
      expect(await views(1)).toBe(1);
      expect((await t.dataSource.getRepository(User).findOneByOrFail({ id: 1 })).name).toBeNull();
      expect((await t.buffer.stats()).pending).toEqual({ counters: 0, updates: 1, inserts: 0 });
    });

    it('claims at most maxBatchRows per batch and still flushes everything', async () => {
      await t.close();
      t = await createTestApp(kind, {
        storage: storageOptions(storageKind),
        flush: { maxBatchRows: 3 },
      });
      await t.dataSource
        .getRepository(Post)
        .insert(Array.from({ length: 10 }, (_, i) => ({ id: i + 1 })));
      for (let id = 1; id <= 10; id++) await t.buffer.increment(Post, id, 'views', id);
      const report = await t.buffer.flush();
      // Redis claims a table's counters and updates whole; only inserts are capped.
      expect(report.batches).toBe(storageKind.startsWith('redis') ? 1 : 4);
      const all = await t.dataSource.getRepository(Post).find({ order: { id: 'ASC' } });
      expect(all.map((p) => p.views)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    });

    it('claims at most maxBatchRows inserts per batch, in the order they were buffered', async () => {
      await t.close();
      t = await createTestApp(kind, {
        storage: storageOptions(storageKind),
        flush: { maxBatchRows: 3 },
      });
      const at = new Date();
      await t.buffer.insert(
        ActivityLog,
        Array.from({ length: 10 }, (_, i) => ({ postId: i + 1, at, ip: '127.0.0.1' })),
      );
      const report = await t.buffer.flush();
      expect(report).toMatchObject({ batches: 4, inserted: 10 });
      const rows = await t.dataSource.getRepository(ActivityLog).find({ order: { id: 'ASC' } });
      expect(rows.map((row) => row.postId)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    });
  });

  describe('composite keys', () => {
    it('increments, updates and reads rows keyed by several columns', async () => {
      await t.dataSource.getRepository(Membership).insert([
        { orgId: 'eu:1', userId: 1 },
        { orgId: 'eu', userId: 11 },
      ]);
      await t.buffer.increment(Membership, { orgId: 'eu:1', userId: 1 }, 'points', 3);
      await t.buffer.increment(Membership, { userId: '1', orgId: 'eu:1' }, 'points', 4);
      await t.buffer.increment(Membership, { orgId: 'eu', userId: 11 }, 'points', 1);
      await t.buffer.update(Membership, { orgId: 'eu', userId: 11 }, { role: 'admin' });
      // Matches neither row: each key column matches one of them.
      await t.buffer.increment(Membership, { orgId: 'eu', userId: 1 }, 'points', 5);
      expect(await t.buffer.get(Membership, { orgId: 'eu:1', userId: 1 }, 'points')).toBe(7);
      const report = await t.buffer.flush();
      expect(report.missing).toEqual([
        expect.objectContaining({ id: { orgId: 'eu', userId: 1 }, values: { points: 5 } }),
      ]);
      expect(report.incremented).toBe(2);
      const rows = await t.dataSource.getRepository(Membership).find({ order: { userId: 'ASC' } });
      expect(rows).toEqual([
        { orgId: 'eu:1', userId: 1, points: 7, role: 'member' },
        { orgId: 'eu', userId: 11, points: 1, role: 'admin' },
      ]);
    });
  });
});

describe.each(combos)('exactly-once on %s with %s storage', (kind, storageKind) => {
  it('applies a batch once even when it is applied again after a crash before ack', async () => {
    const { storage, failNext } = faultyStorage(await createStorage(storageOptions(storageKind)));
    const t = await createTestApp(kind, { storage: { type: 'custom', instance: storage } });
    try {
      await t.dataSource.getRepository(Post).insert({ id: 1 });
      await t.buffer.increment(Post, 1, 'views', 5);
      await t.buffer.insert(ActivityLog, { postId: 1, at: new Date() });
      failNext('ack');
      await expect(t.buffer.flush()).rejects.toThrow(/simulated crash/);
      expect((await t.buffer.stats()).inFlightBatches).toBe(1);
      // Committed but not acknowledged: get() must not count the delta twice.
      expect(await t.buffer.get(Post, 1, 'views')).toBe(5);
      const report = await t.buffer.flush();
      expect(report).toMatchObject({ batches: 0, skippedBatches: 1 });
      expect((await t.dataSource.getRepository(Post).findOneByOrFail({ id: 1 })).views).toBe(5);
      expect(await t.dataSource.getRepository(ActivityLog).count()).toBe(1);
      expect((await t.buffer.stats()).inFlightBatches).toBe(0);
    } finally {
      await t.close();
    }
  });
});

describe('get() when flushes keep racing it', () => {
  it('rejects with InconsistentReadError, naming the cell, instead of a value that may be wrong', async () => {
    const inner = new MemoryStorage();
    // Every read sees a new epoch, as if a flush claimed the cell between each two reads.
    let claims = 0;
    const racing = new Proxy(inner, {
      get(target, name, receiver) {
        if (name !== 'readMany') return Reflect.get(target, name, receiver) as unknown;
        return async (...args: Parameters<MemoryStorage['readMany']>) => ({
          ...(await target.readMany(...args)),
          epoch: ++claims,
        });
      },
    });
    const [kind] = await databaseKinds();
    const t = await createTestApp(kind, { storage: { type: 'custom', instance: racing } });
    try {
      await t.dataSource.getRepository(Post).insert({ id: 1 });
      await t.buffer.increment(Post, 1, 'views', 2);
      const error = await t.buffer.get(Post, 1, 'views').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(InconsistentReadError);
      expect((error as Error).message).toMatch(
        /^Could not read a consistent value of Post\.views: flushes kept racing the read \(50 attempts\)\. Nothing was changed; retry the read\.$/,
      );
      expect((await t.buffer.stats()).pending.counters).toBe(1);
    } finally {
      await t.close();
    }
  });
});

describe.each(await databaseKinds())('ledger table names on %s', (kind) => {
  it('flushes, and get() reads, with a ledger table name that needs quoting', async () => {
    // Quoted in every statement, such a name always worked; apps already have these tables.
    const t = await createTestApp(kind, { ledger: { table: 'app-write-buffer-ledger' } });
    try {
      await t.dataSource.getRepository(Post).insert({ id: 1 });
      await t.buffer.increment(Post, 1, 'views', 3);
      await t.buffer.flush();
      expect(await t.buffer.get(Post, 1, 'views')).toBe(3);
      const [{ count }] = await t.dataSource.query(
        `SELECT COUNT(*) AS count FROM "app-write-buffer-ledger" WHERE batch_id <> '#format'`,
      );
      expect(Number(count)).toBe(1);
    } finally {
      await t.close();
    }
  });
});
