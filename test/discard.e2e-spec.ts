import 'reflect-metadata';
import { afterAll, afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import {
  BufferFullError,
  InvalidIdError,
  MemoryStorage,
  WriteBufferConfigError,
} from '../lib/index.js';
import { createTestDatabase, databaseKinds } from './support/databases.js';
import { Post, User } from './support/entities.js';
import { holdAt } from './support/query-gate.js';
import { UPDATE_STATEMENT } from './support/query-counter.js';
import { closeTestClients, databaseStorageMatrix, storageOptions } from './support/storages.js';
import { createTestApp, type TestApp } from './support/test-app.js';

const combos = await databaseStorageMatrix();

afterAll(closeTestClients);

describe.each(combos)('discard() on %s with %s storage', (kind, storageKind) => {
  let t: TestApp;
  let storage: ReturnType<typeof storageOptions>;

  beforeEach(async () => {
    storage = storageOptions(storageKind);
    t = await createTestApp(kind, { storage });
    const posts = Array.from({ length: 3 }, (_, i) => ({ id: i + 1, title: `p${i + 1}` }));
    await t.dataSource.getRepository(Post).insert(posts);
    await t.dataSource.getRepository(User).insert([{ id: 1 }]);
  });
  afterEach(() => t.close());

  const post = (id: number) => t.dataSource.getRepository(Post).findOneBy({ id });

  it("drops the row's counters, update and inserts; a flush leaves the row untouched and applies the others", async () => {
    await t.buffer.increment(Post, 1, 'views', 3);
    await t.buffer.increment(Post, 1, 'likes', 2);
    await t.buffer.update(Post, 1, { title: 'gone' });
    await t.buffer.increment(Post, 2, 'views', 5);
    await t.buffer.insert(Post, [
      { id: 100, title: 'a' },
      { id: 101, title: 'b' },
      { id: 100, title: 'again' },
    ]);
    await t.buffer.increment(Post, 100, 'views', 7);
    await t.buffer.update(User, 1, { name: 'kept' });
    const before = await t.buffer.stats();

    // '1' and 1 name one row.
    expect(await t.buffer.discard(Post, '1')).toEqual({ discarded: 3, inFlight: 0 });
    expect(await t.buffer.discard(Post, 100)).toEqual({ discarded: 3, inFlight: 0 });
    expect(await t.buffer.discard(Post, 3)).toEqual({ discarded: 0, inFlight: 0 });

    const after = await t.buffer.stats();
    expect(after.pending).toEqual({
      counters: before.pending.counters - 3,
      updates: before.pending.updates - 1,
      inserts: before.pending.inserts - 2,
    });
    expect(await t.buffer.get(Post, 1, 'views')).toBe(0);
    expect(await t.buffer.get(Post, 100, 'views')).toBe(0);
    expect(await t.buffer.get(Post, 2, 'views')).toBe(5);

    const report = await t.buffer.flush();
    expect(report.missing).toEqual([]);
    expect(await post(1)).toMatchObject({ title: 'p1', views: 0, likes: 0 });
    expect(await post(2)).toMatchObject({ views: 5 });
    expect(await post(100)).toBeNull();
    expect(await post(101)).toMatchObject({ title: 'b' });
    expect((await t.dataSource.getRepository(User).findOneByOrFail({ id: 1 })).name).toBe('kept');
    expect((await t.buffer.stats()).pending).toEqual({ counters: 0, updates: 0, inserts: 0 });
  });

  it('leaves nothing pending, and no lag, once it dropped all there was', async () => {
    await t.buffer.increment(Post, 1, 'views', 3);
    await t.buffer.insert(Post, { id: 100 });
    await t.buffer.discard(Post, 1);
    await t.buffer.discard(Post, 100);
    const stats = await t.buffer.stats();
    expect(stats.pending).toEqual({ counters: 0, updates: 0, inserts: 0 });
    expect(stats.oldestPendingAgeMs).toBeUndefined();
    expect(await t.buffer.flush()).toMatchObject({ batches: 0 });
  });

  it('gives back the room it dropped under limits.maxPendingEntries', async () => {
    const limited = await createTestApp(
      kind,
      { storage: storageOptions(storageKind), limits: { maxPendingEntries: 3, policy: 'reject' } },
      { database: t.database },
    );
    try {
      for (const id of [1, 2, 3]) await limited.buffer.increment(Post, id, 'views');
      await expect(limited.buffer.update(Post, 1, { title: 'x' })).rejects.toThrow(BufferFullError);
      expect(await limited.buffer.discard(Post, 2)).toEqual({ discarded: 1, inFlight: 0 });
      await limited.buffer.update(Post, 1, { title: 'x' });
      await limited.buffer.flush();
      expect(await post(1)).toMatchObject({ title: 'x', views: 1 });
      expect(await post(2)).toMatchObject({ views: 0 });
    } finally {
      await limited.close();
    }
  });

  it('keeps writes that arrive after the discard', async () => {
    await t.buffer.increment(Post, 1, 'views', 3);
    await t.buffer.discard(Post, 1);
    await t.buffer.increment(Post, 1, 'views', 4);
    await t.buffer.update(Post, 1, { title: 'after' });
    expect(await t.buffer.get(Post, 1, 'views')).toBe(4);
    await t.buffer.flush();
    expect(await post(1)).toMatchObject({ title: 'after', views: 4 });
  });

  it('rejects an id that is not a key with InvalidIdError and drops nothing', async () => {
    await t.buffer.increment(Post, 1, 'views', 3);
    await expect(t.buffer.discard(Post, 'abc')).rejects.toThrow(InvalidIdError);
    await expect(t.buffer.discard(Post, { id: 1, other: 2 })).rejects.toThrow(InvalidIdError);
    await t.buffer.flush();
    expect(await post(1)).toMatchObject({ views: 3 });
  });

  it('racing increments: those called before it are dropped (and acknowledged first), those called after are applied', async () => {
    // Each increment adds its own power of two: the sum tells exactly which were applied.
    let clock = 0;
    const calls: Array<{ bit: number; called: number; resolved?: number }> = [];
    const pending: Array<Promise<unknown>> = [];
    const fire = (from: number, to: number) => {
      for (let bit = from; bit < to; bit++) {
        const call: (typeof calls)[number] = { bit, called: clock++ };
        calls.push(call);
        pending.push(
          t.buffer.increment(Post, 1, 'views', 2 ** bit).then(() => (call.resolved = clock++)),
        );
      }
    };
    fire(0, 5);
    await Promise.all(pending); // acknowledged before the discard
    fire(5, 15); // in flight to the storage while it runs
    const discardCalled = clock++;
    const discarding = t.buffer.discard(Post, 1);
    fire(15, 25);
    const result = await discarding;
    const discardResolved = clock++;
    fire(25, 29);
    await Promise.all(pending);
    expect(result).toEqual({ discarded: 1, inFlight: 0 });

    await t.buffer.flush();
    const views = (await post(1))!.views;
    const applied = calls.filter(({ bit }) => (views & (2 ** bit)) !== 0).map(({ bit }) => bit);
    // The discard takes effect where it was called: the storage keeps the calls' order on one row.
    expect(applied).toEqual(calls.filter((c) => c.called > discardCalled).map((c) => c.bit));
    for (const call of calls) {
      // A write it dropped was acknowledged before the discard resolved.
      if (!applied.includes(call.bit)) expect(call.resolved!).toBeLessThan(discardResolved);
      // A write acknowledged after it resolved is applied.
      if (call.resolved! > discardResolved) expect(applied).toContain(call.bit);
    }
  });

  it('racing a claim: reports the claimed writes in flight, applies them, and drops the pending ones', async () => {
    await t.buffer.increment(Post, 1, 'views', 2);
    await t.buffer.update(Post, 1, { title: 'claimed' });
    const gate = holdAt('query', UPDATE_STATEMENT);
    const flushing = t.buffer.flush();
    await gate.reached; // claimed, not committed
    await t.buffer.increment(Post, 1, 'views', 10);
    await t.buffer.increment(Post, 1, 'likes', 1);
    await t.buffer.increment(Post, 2, 'views', 1);

    expect(await t.buffer.discard(Post, 1)).toEqual({ discarded: 2, inFlight: 1 });
    // The database value plus the in-flight layer only.
    expect(await t.buffer.get(Post, 1, 'views')).toBe(2);
    expect(await t.buffer.get(Post, 1, 'likes')).toBe(0);
    gate.release();
    await flushing;
    await t.buffer.flush();
    expect(await post(1)).toMatchObject({ title: 'claimed', views: 2, likes: 0 });
    expect(await post(2)).toMatchObject({ views: 1 });
    expect(await t.buffer.discard(Post, 1)).toEqual({ discarded: 0, inFlight: 0 });
  });

  // Storages that outlive a restart must not bring dropped writes back.
  if (storageKind !== 'memory') {
    it('writes stay dropped after a restart', async () => {
      const database = await createTestDatabase(kind);
      const options = { storage: storageOptions(storageKind), flush: { onShutdown: false } };
      const first = await createTestApp(kind, options, { database });
      try {
        await first.dataSource.getRepository(Post).insert([{ id: 1 }, { id: 2 }]);
        await first.buffer.increment(Post, 1, 'views', 3);
        await first.buffer.increment(Post, 2, 'views', 4);
        await first.buffer.insert(Post, [{ id: 100 }, { id: 101 }, { id: 100 }, { id: 102 }]);
        await first.buffer.increment(Post, 101, 'views', 1);
        expect(await first.buffer.discard(Post, 1)).toEqual({ discarded: 1, inFlight: 0 });
        expect(await first.buffer.discard(Post, 100)).toEqual({ discarded: 2, inFlight: 0 });
        await first.buffer.insert(Post, { id: 103 });
      } finally {
        await first.close();
      }
      const second = await createTestApp(kind, options, { database });
      try {
        expect(await second.buffer.get(Post, 1, 'views')).toBe(0);
        expect(await second.buffer.get(Post, 101, 'views')).toBe(1);
        expect((await second.buffer.stats()).pending).toMatchObject({ counters: 2, inserts: 3 });
        await second.buffer.flush();
        const ids = await second.dataSource
          .getRepository(Post)
          .find({ order: { id: 'ASC' }, select: { id: true, views: true } });
        expect(ids.map(({ id, views }) => [id, views])).toEqual([
          [1, 0],
          [2, 4],
          [101, 1],
          [102, 0],
          [103, 0],
        ]);
      } finally {
        await second.close();
        await database.drop();
      }
    });
  }

  if (storageKind === 'lmdb') {
    it('drops the writes another instance sharing the environment buffered', async () => {
      const other = await createTestApp(kind, { storage }, { database: t.database });
      try {
        await other.buffer.increment(Post, 1, 'views', 3);
        await other.buffer.insert(Post, { id: 100 });
        await t.buffer.increment(Post, 1, 'likes', 1);
        expect(await t.buffer.discard(Post, 1)).toEqual({ discarded: 2, inFlight: 0 });
        expect(await t.buffer.discard(Post, 100)).toEqual({ discarded: 1, inFlight: 0 });
        expect(await other.buffer.get(Post, 1, 'views')).toBe(0);
        await other.buffer.increment(Post, 1, 'views', 4);
        await t.buffer.flush();
        expect(await post(1)).toMatchObject({ views: 4, likes: 0 });
        expect(await post(100)).toBeNull();
      } finally {
        await other.close();
      }
    });
  }
});

describe('discard() on a custom storage without it', () => {
  it('fails with an error naming the method to implement', async () => {
    const [kind] = await databaseKinds();
    const instance = new MemoryStorage();
    Object.defineProperty(instance, 'discard', { value: undefined });
    const t = await createTestApp(kind, { storage: { type: 'custom', instance } });
    try {
      await t.buffer.increment(Post, 1, 'views');
      const refused = t.buffer.discard(Post, 1);
      await expect(refused).rejects.toThrow(WriteBufferConfigError);
      await expect(t.buffer.discard(Post, 1)).rejects.toThrow(
        /BufferService\.discard\(\) needs the storage's optional discard\(\) method/,
      );
    } finally {
      await t.close();
    }
  });
});
