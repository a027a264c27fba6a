import { UPDATE_STATEMENT } from './support/query-counter.js';
import 'reflect-metadata';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import type { LoggerService } from '@nestjs/common';
import {
  BufferFullError,
  LeaseLostError,
  MemoryStorage,
  type BufferStorage,
  type DeadLetter,
  type WriteBufferModuleOptions,
} from '../lib/index.js';
import { holdAt } from './support/query-gate.js';
import {
  admin,
  createTestDatabase,
  databaseKinds,
  postgresAvailable,
  type DatabaseKind,
  type TestDatabase,
} from './support/databases.js';
import { ActivityLog, Post, User } from './support/entities.js';
import {
  closeTestClients,
  redisAvailable,
  storageOptions,
  type StorageKind,
} from './support/storages.js';
import { createTestApp, type TestApp } from './support/test-app.js';

const storages: StorageKind[] = [
  'memory',
  'journal',
  ...((await redisAvailable()) ? (['redis'] as const) : []),
];
const combos = (await databaseKinds()).flatMap((db) =>
  storages.map((storage) => [db, storage] as [DatabaseKind, StorageKind]),
);
const apps: TestApp[] = [];
afterEach(async () => {
  while (apps.length) await apps.pop()!.close();
});
afterAll(closeTestClients);

async function open(
  kind: DatabaseKind,
  options: WriteBufferModuleOptions,
  database?: TestDatabase,
) {
  const t = await createTestApp(kind, options, { database });
  apps.push(t);
  return t;
}

describe.each(combos)('failure handling on %s with %s storage', (kind, storageKind) => {
  it('isolates one poison insert among 10,000 in a logarithmic number of statements', async () => {
    const hooked: DeadLetter[] = [];
    const t = await open(kind, {
      storage: storageOptions(storageKind),
      flush: { maxPending: 0 },
      onDeadLetter: (letter) => hooked.push(letter),
    });
    const letters: DeadLetter[] = [];
    const rows = Array.from({ length: 10_000 }, (_, i) => ({
      postId: i === 6_543 ? -1 : i,
      at: new Date(),
    }));
    await t.buffer.insert(ActivityLog, rows);
    t.queries.reset();
    const report = await t.buffer.flush();
    expect(report.deadLettered).toBe(1);
    expect(await t.dataSource.getRepository(ActivityLog).count()).toBe(9_999);
    const inserts = t.queries.writes().filter((q) => q.startsWith('INSERT'));
    // About two attempts per halving: 2 * log2(10,000) ≈ 27.
    expect(inserts.length).toBeLessThanOrEqual(30);
    letters.push(...(await t.buffer.deadLetters()));
    expect(letters).toHaveLength(1);
    expect(hooked.map((l) => l.id)).toEqual([letters[0].id]);
    expect(letters[0]).toMatchObject({
      kind: 'insert',
      entity: 'ActivityLog',
      payload: { postId: -1 },
    });
    expect(letters[0].error).toMatch(/CHK_activity_log_post|constraint/i);
    expect((await t.buffer.stats()).deadLetters).toBe(1);
    // A later flush is not blocked by it.
    await t.buffer.insert(ActivityLog, { postId: 1, at: new Date() });
    await t.buffer.flush();
    expect(await t.dataSource.getRepository(ActivityLog).count()).toBe(10_000);
  });

  it('dead-letters missing rows by default, drops them with onMissingRow: drop', async () => {
    const t = await open(kind, { storage: storageOptions(storageKind) });
    await t.dataSource.getRepository(Post).insert({ id: 1 });
    await t.buffer.increment(Post, 1, 'views', 1);
    await t.buffer.increment(Post, 2, 'views', 4);
    await t.buffer.update(User, 9, { name: 'nobody' });
    const report = await t.buffer.flush();
    expect(report).toMatchObject({ incremented: 1, updated: 0, deadLettered: 2 });
    const letters = await t.buffer.deadLetters();
    expect(letters.map((l) => [l.kind, l.key, l.payload]).sort()).toEqual([
      ['counter', { id: 2 }, { views: 4 }],
      ['update', { id: 9 }, { name: 'nobody' }],
    ]);

    const dropping = await open(kind, {
      storage: storageOptions(storageKind),
      onMissingRow: 'drop',
    });
    await dropping.buffer.increment(Post, 2, 'views', 4);
    const dropped = await dropping.buffer.flush();
    expect(dropped).toMatchObject({ incremented: 0, deadLettered: 0 });
    expect(dropped.missing).toHaveLength(1);
    expect(await dropping.buffer.deadLetters()).toEqual([]);
  });

  if (storageKind !== 'memory') {
    it('keeps dead letters across a restart and applies them with retryDeadLetters once fixed', async () => {
      const database = await createTestDatabase(kind);
      const storage = storageOptions(storageKind);
      let t = await open(kind, { storage, flush: { onShutdown: false } }, database);
      await t.buffer.increment(Post, 3, 'views', 7);
      await t.buffer.insert(ActivityLog, { postId: -5, at: new Date() });
      await t.buffer.flush();
      await t.close();
      apps.pop();

      t = await open(kind, { storage }, database);
      const letters = await t.buffer.deadLetters();
      expect(letters.map((l) => l.kind).sort()).toEqual(['counter', 'insert']);
      // Fix one cause (the row now exists) and retry just that letter.
      await t.dataSource.getRepository(Post).insert({ id: 3 });
      const counter = letters.find((l) => l.kind === 'counter')!;
      expect(await t.buffer.retryDeadLetters([counter.id])).toBe(1);
      await t.buffer.flush();
      expect((await t.dataSource.getRepository(Post).findOneByOrFail({ id: 3 })).views).toBe(7);
      // The other one is discarded for good.
      expect(await t.buffer.discardDeadLetters()).toBe(1);
      expect(await t.buffer.deadLetters()).toEqual([]);
      await t.close();
      apps.pop();
      await database.drop();
    });
  }
});

describe.each(await databaseKinds())('lease loss on %s', (kind) => {
  it('rolls a batch back instead of committing it once the flusher learns its lease is gone', async () => {
    const inner = new MemoryStorage();
    const storage: BufferStorage = Object.assign(Object.create(inner), {
      lease: async (dataSource: string) => {
        const lease = await inner.lease(dataSource);
        return lease && { ...lease, renew: async () => false };
      },
    });
    const t = await open(kind, {
      storage: { type: 'custom', instance: storage },
      flush: { leaseTtl: 60 },
    });
    await t.dataSource.getRepository(Post).insert({ id: 1 });
    await t.buffer.increment(Post, 1, 'views', 3);
    const gate = holdAt('query', UPDATE_STATEMENT);
    const flushing = t.buffer.flush();
    await gate.reached;
    await new Promise((resolve) => setTimeout(resolve, 100)); // a renewal fails meanwhile
    gate.release();
    await expect(flushing).rejects.toBeInstanceOf(LeaseLostError);
    expect((await t.dataSource.getRepository(Post).findOneByOrFail({ id: 1 })).views).toBe(0);
    expect((await t.buffer.stats()).inFlightBatches).toBe(1);
  });
});

describe.each(await databaseKinds())('bounded memory on %s', (kind) => {
  it("policy 'reject': refuses at once past the limit, buffering nothing", async () => {
    const t = await open(kind, { limits: { maxPendingEntries: 50, policy: 'reject' } });
    await t.dataSource
      .getRepository(Post)
      .insert(Array.from({ length: 51 }, (_, i) => ({ id: i + 1 })));
    for (let id = 1; id <= 50; id++) await t.buffer.increment(Post, id, 'views');
    await t.buffer.increment(Post, 50, 'views'); // same cell: no new entry
    const error = await t.buffer.increment(Post, 51, 'views').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BufferFullError);
    expect((error as Error).message).toMatch(
      /50 entries held, limit 50 \(limits.maxPendingEntries\)/,
    );
    expect((await t.buffer.stats()).pending.counters).toBe(50);
    await t.buffer.flush();
    await t.buffer.increment(Post, 51, 'views');
    await t.buffer.flush();
    expect((await t.dataSource.getRepository(Post).findOneByOrFail({ id: 50 })).views).toBe(2);
    expect((await t.dataSource.getRepository(Post).findOneByOrFail({ id: 51 })).views).toBe(1);
  });

  it("policy 'flush': makes room by flushing, never holding more than the limit", async () => {
    const t = await open(kind, { limits: { maxPendingEntries: 50, policy: 'flush' } });
    await t.dataSource
      .getRepository(Post)
      .insert(Array.from({ length: 300 }, (_, i) => ({ id: i + 1 })));
    let most = 0;
    for (let id = 1; id <= 300; id++) {
      await t.buffer.increment(Post, id, 'views', 2);
      const { pending, inFlightBatches } = await t.buffer.stats();
      most = Math.max(most, pending.counters + (inFlightBatches ? 50 : 0));
      expect(pending.counters).toBeLessThanOrEqual(50);
    }
    await t.buffer.flush();
    const total = await t.dataSource.getRepository(Post).sum('views');
    expect(total).toBe(600);
  });
});

const postgres = await postgresAvailable();

(postgres ? describe : describe.skip)('failure handling on postgres only', () => {
  it('dead-letters an update whose value is too long for its column', async () => {
    const t = await open('postgres', {});
    await t.dataSource.getRepository(User).insert([{ id: 1 }, { id: 2 }, { id: 3 }]);
    await t.buffer.update(User, 1, { name: 'ok' });
    await t.buffer.update(User, 2, { name: 'x'.repeat(150) });
    await t.buffer.update(User, 3, { name: 'fine' });
    const report = await t.buffer.flush();
    expect(report.deadLettered).toBe(1);
    const users = await t.dataSource.getRepository(User).find({ order: { id: 'ASC' } });
    expect(users.map((u) => u.name)).toEqual(['ok', null, 'fine']);
    const [letter] = await t.buffer.deadLetters();
    expect(letter).toMatchObject({ kind: 'update', key: { id: 2 } });
    expect(letter.error).toMatch(/too long/);
  });

  it("policy 'flush' gives up after waitTimeout while the database is down, and recovers", async () => {
    const t = await open('postgres', { limits: { maxPendingEntries: 20, waitTimeout: 300 } });
    const name = new URL((t.dataSource.options as { url: string }).url).pathname.slice(1);
    await t.dataSource
      .getRepository(Post)
      .insert(Array.from({ length: 21 }, (_, i) => ({ id: i + 1 })));
    await admin(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
    await admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name}'`);
    try {
      for (let id = 1; id <= 20; id++) await t.buffer.increment(Post, id, 'views');
      const started = Date.now();
      await expect(t.buffer.increment(Post, 21, 'views')).rejects.toBeInstanceOf(BufferFullError);
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
      expect(
        (await t.buffer.stats()).pending.counters + 20 * (await t.buffer.stats()).inFlightBatches,
      ).toBeLessThanOrEqual(40);
    } finally {
      await admin(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
    }
    await t.buffer.increment(Post, 21, 'views');
    await t.buffer.flush();
    expect(await t.dataSource.getRepository(Post).sum('views')).toBe(21);
  });

  it('backs off while the database refuses connections, logging once per state change', async () => {
    const lines: string[] = [];
    const logger: LoggerService = {
      log: (m: string) => void lines.push(`log ${m}`),
      error: (m: string) => void lines.push(`error ${m}`),
      warn: (m: string) => void lines.push(`warn ${m}`),
    };
    const database = await createTestDatabase('postgres');
    const t = await createTestApp(
      'postgres',
      { flush: { retry: { baseDelay: 100, maxDelay: 800 } } },
      { database, logger },
    );
    apps.push(t);
    const name = new URL(
      t.dataSource.options.type === 'postgres'
        ? String((t.dataSource.options as { url: string }).url)
        : '',
    ).pathname.slice(1);
    await t.dataSource.getRepository(Post).insert({ id: 1 });
    await t.buffer.increment(Post, 1, 'views', 2);
    await admin(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
    await admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name}'`);
    try {
      const backoffs: number[] = [];
      for (let attempt = 1; attempt <= 4; attempt++) {
        await t.buffer.flushDue().catch(() => undefined);
        const stats = await t.buffer.stats();
        expect(stats.consecutiveFailures).toBe(attempt);
        backoffs.push(stats.backoffMs);
        // Not due yet: a scheduled run does not even try.
        await t.buffer.flushDue();
        expect((await t.buffer.stats()).consecutiveFailures).toBe(attempt);
        await new Promise((resolve) => setTimeout(resolve, stats.backoffMs + 5));
      }
      // Ceilings 100, 200, 400, 800 ms with jitter in [ceiling / 2, ceiling].
      [100, 200, 400, 800].forEach((ceiling, i) => {
        expect(backoffs[i]).toBeGreaterThanOrEqual(ceiling / 2);
        expect(backoffs[i]).toBeLessThanOrEqual(ceiling);
      });
      await admin(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
      await t.buffer.flushDue();
      expect(await t.buffer.stats()).toMatchObject({ consecutiveFailures: 0, backoffMs: 0 });
      expect((await t.dataSource.getRepository(Post).findOneByOrFail({ id: 1 })).views).toBe(2);
    } finally {
      await admin(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
    }
    const stateLines = lines.filter((l) => /is failing|recovered/.test(l));
    expect(stateLines).toHaveLength(2);
    expect(stateLines[0]).toMatch(/^error Flushing data source 'default' is failing/);
    expect(stateLines[1]).toMatch(
      /^log Flushing data source 'default' recovered after 4 failed attempt/,
    );
  });
});
