import 'reflect-metadata';
import { afterAll, afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { type WriteBufferEntityOptions, type WriteBufferModuleOptions } from '../lib/index.js';
import { createTestDatabase } from './support/databases.js';
import { ActivityLog, Membership, Post, User } from './support/entities.js';
import {
  closeTestClients,
  databaseStorageMatrix,
  REDIS_URL,
  storageOptions,
  type StorageKind,
} from './support/storages.js';
import { holdAt } from './support/query-gate.js';
import { UPDATE_STATEMENT } from './support/query-counter.js';
import { createTestApp, type TestApp } from './support/test-app.js';
import { featureModule } from './support/feature-module.js';

const combos = await databaseStorageMatrix();

afterAll(closeTestClients);

const SHARED: StorageKind[] = ['lmdb', 'redis', 'redis-cluster'];

describe.each(combos)('review of discard() on %s with %s storage', (kind, storageKind) => {
  let t: TestApp;
  let storage: ReturnType<typeof storageOptions>;
  /** Another app on the test's database; on the test's storage where it can be shared, else a fresh one. */
  const open = (options: WriteBufferModuleOptions = {}, entities?: WriteBufferEntityOptions[]) =>
    createTestApp(
      kind,
      { ...options, storage: SHARED.includes(storageKind) ? storage : storageOptions(storageKind) },
      { database: t?.database, ...(entities && { imports: [featureModule(entities)] }) },
    );

  beforeEach(async () => {
    storage = storageOptions(storageKind);
    t = await createTestApp(kind, { storage });
    await t.dataSource.getRepository(Post).insert([1, 2, 3].map((id) => ({ id, title: `p${id}` })));
    await t.dataSource.getRepository(User).insert([1, 2, 3, 4, 5].map((id) => ({ id })));
  });
  afterEach(() => t.close());

  const post = (id: number) => t.dataSource.getRepository(Post).findOneBy({ id });

  it('drops the writes of the row that retryDeadLetters() buffered again, and nothing else', async () => {
    await t.buffer.increment(Post, 50, 'views', 5);
    await t.buffer.update(Post, 50, { title: 'ghost' });
    await t.buffer.increment(Post, 51, 'views', 7);
    await t.buffer.flush();
    const letters = await t.buffer.deadLetters();
    expect(new Set(letters.map((l) => l.key?.id))).toEqual(new Set([50, 51]));
    expect(await t.buffer.retryDeadLetters()).toBe(letters.length);
    const result = await t.buffer.discard(Post, 50);
    expect(result).toEqual({ discarded: 2, inFlight: 0 });
    expect((await t.buffer.stats()).pending).toEqual({ counters: 1, updates: 0, inserts: 0 });
    await t.dataSource.getRepository(Post).insert([{ id: 50 }, { id: 51 }]);
    await t.buffer.flush();
    expect(await post(50)).toMatchObject({ title: '', views: 0 });
    expect(await post(51)).toMatchObject({ views: 7 });
    expect(await t.buffer.deadLetters()).toEqual([]);
  });

  it('drops a requeued insert dead letter of the row', async () => {
    // Post 1 exists: the buffered insert of it fails and is set aside.
    await t.buffer.insert(Post, [{ id: 1, title: 'dup' }, { id: 60 }]);
    await t.buffer.flush();
    const letters = await t.buffer.deadLetters();
    expect(letters.map((l) => l.kind)).toEqual(['insert']);
    await t.buffer.retryDeadLetters();
    expect(await t.buffer.discard(Post, 1)).toEqual({ discarded: 1, inFlight: 0 });
    expect((await t.buffer.stats()).pending).toEqual({ counters: 0, updates: 0, inserts: 0 });
    await t.buffer.flush();
    expect(await t.buffer.deadLetters()).toEqual([]);
    expect(await post(1)).toMatchObject({ title: 'p1' });
  });

  if (storageKind !== 'memory') {
    it("keeps the other rows' inserts in their order through a restart, after claims moved the head", async () => {
      const database = await createTestDatabase(kind);
      const options = { storage: storageOptions(storageKind), flush: { onShutdown: false } };
      const first = await createTestApp(kind, options, { database });
      try {
        await first.buffer.insert(Post, [{ id: 1 }, { id: 2 }]);
        await first.buffer.flush();
        await first.buffer.insert(Post, [
          { id: 100, title: 'a' },
          { id: 101, title: 'x' },
          { id: 100, title: 'b' },
          { id: 102 },
          { id: 101, title: 'y' },
          { id: 103 },
        ]);
        expect(await first.buffer.discard(Post, 100)).toEqual({ discarded: 2, inFlight: 0 });
        await first.buffer.insert(Post, { id: 104 });
        expect(await first.buffer.discard(Post, 103)).toEqual({ discarded: 1, inFlight: 0 });
        await first.buffer.insert(Post, { id: 105 });
      } finally {
        await first.close();
      }
      const second = await createTestApp(kind, options, { database });
      try {
        expect((await second.buffer.stats()).pending.inserts).toBe(5);
        await second.buffer.flush();
        const rows = await second.dataSource
          .getRepository(Post)
          .find({ order: { id: 'ASC' }, select: { id: true, title: true } });
        expect(rows.map(({ id, title }) => [id, title])).toEqual([
          [1, ''],
          [2, ''],
          [101, 'x'],
          [102, ''],
          [104, ''],
          [105, ''],
        ]);
        const letters = await second.buffer.deadLetters();
        expect(letters.map((l) => l.payload.title)).toEqual(['y']);
      } finally {
        await second.close();
        await database.drop();
      }
    });
  }

  it('per-entity maxBatchRows with inserts, updates and counters of the same rows, beside shared tables: all applied once, flush ends', async () => {
    const app = await open({ flush: { maxBatchRows: 3 } }, [{ entity: Post, maxBatchRows: 2 }]);
    try {
      const ids = [100, 101, 102, 103, 104];
      await app.buffer.insert(
        Post,
        ids.map((id) => ({ id, title: 'new' })),
      );
      for (const id of ids) {
        await app.buffer.increment(Post, id, 'views', id);
        await app.buffer.update(Post, id, { title: `u${id}` });
        await app.buffer.increment(Post, id, 'likes', 1);
      }
      for (const id of [1, 2, 3]) await app.buffer.increment(Post, id, 'likes', id);
      for (const id of [1, 2, 3, 4, 5]) await app.buffer.update(User, id, { name: `n${id}` });
      const at = new Date();
      await app.buffer.insert(
        ActivityLog,
        Array.from({ length: 7 }, (_, i) => ({ postId: i, at })),
      );
      const expected = await app.buffer.getMany(Post, [...ids, 1, 2, 3], ['views', 'likes']);
      const report = await app.buffer.flush();
      expect(report.missing).toEqual([]);
      expect(await app.buffer.deadLetters()).toEqual([]);
      const rows = await app.dataSource.getRepository(Post).find({
        order: { id: 'ASC' },
        select: { id: true, title: true, views: true, likes: true },
      });
      expect(rows.map(({ id, title, views, likes }) => [id, title, views, likes])).toEqual([
        [1, 'p1', 0, 1],
        [2, 'p2', 0, 2],
        [3, 'p3', 0, 3],
        ...ids.map((id) => [id, `u${id}`, id, 1]),
      ]);
      expect(
        [...ids, 1, 2, 3].map((id) => {
          const row = rows.find((r) => r.id === id)!;
          return { views: row.views, likes: row.likes };
        }),
      ).toEqual(expected);
      const users = await app.dataSource.getRepository(User).find({ order: { id: 'ASC' } });
      expect(users.map((u) => u.name)).toEqual(['n1', 'n2', 'n3', 'n4', 'n5']);
      expect(await app.dataSource.getRepository(ActivityLog).count()).toBe(7);
      expect((await app.buffer.stats()).pending).toEqual({ counters: 0, updates: 0, inserts: 0 });
      expect(await app.buffer.flush()).toMatchObject({ batches: 0 });
    } finally {
      await app.close();
    }
  });

  it('drops only the row named among composite keys with quotes and backslashes', async () => {
    const orgs = ['x', 'x"y', 'x"y\\', 'x\\"y', '[x]'];
    const repo = t.dataSource.getRepository(Membership);
    await repo.insert(orgs.map((orgId) => ({ orgId, userId: 1 })));
    for (const orgId of orgs) {
      await t.buffer.increment(Membership, { orgId, userId: 1 }, 'points', 10);
      await t.buffer.update(Membership, { orgId, userId: 1 }, { role: `r${orgs.indexOf(orgId)}` });
      await t.buffer.insert(Membership, { orgId, userId: 2, points: 1 });
    }
    expect(await t.buffer.discard(Membership, { orgId: 'x"y', userId: 1 })).toEqual({
      discarded: 2,
      inFlight: 0,
    });
    expect(await t.buffer.discard(Membership, { userId: 2, orgId: 'x\\"y' })).toEqual({
      discarded: 1,
      inFlight: 0,
    });
    await t.buffer.flush();
    const rows = await repo.find();
    const of = (orgId: string, userId: number) =>
      rows.find((r) => r.orgId === orgId && r.userId === userId);
    for (const [i, orgId] of orgs.entries()) {
      if (orgId === 'x"y') expect(of(orgId, 1)).toMatchObject({ points: 0, role: 'member' });
      else expect(of(orgId, 1)).toMatchObject({ points: 10, role: `r${i}` });
      if (orgId === 'x\\"y') expect(of(orgId, 2)).toBeUndefined();
      else expect(of(orgId, 2)).toMatchObject({ points: 1 });
    }
  });

  it("a write it dropped resolved before it, when the write's commit was already on its way", async () => {
    for (let turns = 0; turns < 6; turns++) {
      let clock = 0;
      let written = -1;
      let discarded = -1;
      const writing = t.buffer.increment(Post, 1, 'views', 1).then(() => (written = clock++));
      for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
      const result = await t.buffer.discard(Post, 1).then((r) => ((discarded = clock++), r));
      await writing;
      // Called before the discard and pending: dropped, and acknowledged first.
      expect([turns, result.discarded, written < discarded]).toEqual([turns, 1, true]);
    }
    await t.buffer.flush();
    expect((await post(1))!.views).toBe(0);
  });

  it('counts the part of a split batch that holds the row, reads it in flight, applies it once', async () => {
    await t.buffer.increment(Post, 1, 'views', 2);
    await t.buffer.increment(Post, 3, 'views', 4);
    // Post 2 exists: the batch fails on this insert and is split.
    await t.buffer.insert(Post, { id: 2, title: 'dup' });
    const gate = holdAt('query', UPDATE_STATEMENT);
    const flushing = t.buffer.flush();
    await gate.reached;
    await t.buffer.increment(Post, 1, 'views', 100);
    const result = await t.buffer.discard(Post, 1);
    expect(result.discarded).toBe(1);
    expect(result.inFlight).toBe(1);
    expect(await t.buffer.getMany(Post, [1, 3], ['views'])).toEqual([{ views: 2 }, { views: 4 }]);
    expect(await t.buffer.get(Post, 1, 'views')).toBe(2);
    gate.release();
    await flushing;
    await t.buffer.flush();
    expect(await post(1)).toMatchObject({ views: 2 });
    expect(await post(3)).toMatchObject({ views: 4 });
    expect(await post(2)).toMatchObject({ title: 'p2' });
    expect((await t.buffer.deadLetters()).map((l) => l.kind)).toEqual(['insert']);
    expect(await t.buffer.discard(Post, 1)).toEqual({ discarded: 0, inFlight: 0 });
  });

  // limits.maxPendingEntries counts this process's writes on lmdb and Redis: discard gave back
  // the entries it dropped, not the writes that made them.
  it('gives back the room of every write it dropped under limits.maxPendingEntries', async () => {
    const limited = await open({ limits: { maxPendingEntries: 3, policy: 'reject' } });
    try {
      for (let i = 0; i < 3; i++) await limited.buffer.increment(Post, 1, 'views');
      expect(await limited.buffer.discard(Post, 1)).toEqual({ discarded: 1, inFlight: 0 });
      // Nothing is pending: three writes fit.
      for (const id of [1, 2, 3]) await limited.buffer.increment(Post, id, 'likes');
      await limited.buffer.flush();
      expect((await post(3))!.likes).toBe(1);
    } finally {
      await limited.close();
    }
  });

  if (SHARED.includes(storageKind)) {
    it("racing another process's increments: dropped ones were acknowledged before it resolved, later ones applied", async () => {
      const other = await open();
      try {
        const done: number[] = [];
        let discardCalled = -1;
        let discardResolved = -1;
        let clock = 0;
        const stamps: Array<{ bit: number; called: number; resolved: number }> = [];
        const writer = (async () => {
          for (let bit = 0; bit < 30; bit++) {
            const called = clock++;
            await other.buffer.increment(Post, 1, 'views', 2 ** bit);
            stamps.push({ bit, called, resolved: clock++ });
            done.push(bit);
          }
        })();
        while (done.length < 10) await new Promise((resolve) => setImmediate(resolve));
        discardCalled = clock++;
        await t.buffer.discard(Post, 1);
        discardResolved = clock++;
        await writer;
        await t.buffer.flush();
        const views = (await post(1))!.views;
        for (const { bit, called, resolved } of stamps) {
          const applied = (views & (2 ** bit)) !== 0;
          if (resolved < discardCalled) expect([bit, applied]).toEqual([bit, false]);
          if (called > discardResolved) expect([bit, applied]).toEqual([bit, true]);
        }
        // One writer in order: the applied bits are the last ones, and the discard fell mid-stream.
        const applied = stamps.filter(({ bit }) => (views & (2 ** bit)) !== 0).map((s) => s.bit);
        expect(applied.length).toBeGreaterThan(0);
        expect(applied.length).toBeLessThanOrEqual(20);
        expect(applied).toEqual(stamps.slice(stamps.length - applied.length).map((s) => s.bit));
      } finally {
        await other.close();
      }
    });
  }

  if (storageKind === 'redis') {
    it('leaves no rank hash of a merged column behind', async () => {
      const app = await open({}, [{ entity: User, merge: { lastSeenAt: 'max' } }]);
      const prefix = (storage as { keyPrefix: string }).keyPrefix;
      const redis = new Redis(REDIS_URL);
      try {
        await app.buffer.update(User, 1, { lastSeenAt: new Date() });
        expect(await app.buffer.discard(User, 1)).toEqual({ discarded: 1, inFlight: 0 });
        await app.buffer.flush();
        expect(await redis.keys(`${prefix}*rnk*`)).toEqual([]);
      } finally {
        redis.disconnect();
        await app.close();
      }
    });
  }
});
