import { UPDATE_STATEMENT } from './support/query-counter.js';
import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import {
  LeaseLostError,
  RedisUnavailableError,
  WriteBufferError,
  type BufferStorage,
} from '../lib/index.js';
import { createStorage } from '../lib/storage/create-storage.js';
import { createTestDatabase, databaseKinds } from './support/databases.js';
import { ActivityLog, Post, User } from './support/entities.js';
import { holdAt } from './support/query-gate.js';
import { REDIS_URL, redisAvailable, storageOptions } from './support/storages.js';
import { createTestApp } from './support/test-app.js';

const redisUp = await redisAvailable();
const [kind] = (await databaseKinds()).reverse(); // PostgreSQL when there is one
const describeRedis = redisUp ? describe : describe.skip;

/** The commands Redis receives from now on (MONITOR), without those scripts run. */
async function watchCommands(): Promise<{ calls: string[][]; stop: () => void }> {
  const observer = new Redis(REDIS_URL);
  const monitor = await observer.monitor();
  const calls: string[][] = [];
  // Commands run inside scripts show up too, from source 'lua': skip them.
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (!source.includes('lua')) calls.push(args);
  });
  return {
    calls,
    stop: () => {
      monitor.disconnect();
      observer.disconnect();
    },
  };
}

describeRedis('Redis storage', () => {
  it('sends concurrent writes of one turn as one script call, coalesced', async () => {
    const options = storageOptions('redis');
    const t = await createTestApp(kind, { storage: options });
    const { calls, stop } = await watchCommands();
    try {
      await t.dataSource
        .getRepository(Post)
        .insert(Array.from({ length: 10 }, (_, i) => ({ id: i + 1 })));
      await t.buffer.increment(Post, 1, 'views'); // registers the table once
      await new Promise((resolve) => setTimeout(resolve, 100));
      calls.length = 0;
      await Promise.all(
        Array.from({ length: 1000 }, (_, i) => t.buffer.increment(Post, (i % 10) + 1, 'views')),
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      const prefix = (options as { keyPrefix: string }).keyPrefix;
      const writes = calls.filter(
        (args) => /^eval/i.test(args[0]) && args.some((a) => a.startsWith(prefix)),
      );
      expect(writes).toHaveLength(1);
      // 1,000 increments of 10 rows arrive as 10 deltas (EVALSHA sha 5 keys… table sets deltas).
      // (MONITOR escapes the quotes of the JSON argument.)
      expect(writes[0][10].match(/views/g)).toHaveLength(10);
      expect(writes[0][10].match(/"100\\?"/g)).toHaveLength(10);
      expect(calls.filter((args) => args.some((a) => a.startsWith(prefix)))).toHaveLength(1);
      await t.buffer.flush();
      const views = await t.dataSource.getRepository(Post).find({ order: { id: 'ASC' } });
      expect(views.map((p) => p.views)).toEqual([101, ...Array(9).fill(100)]);
    } finally {
      stop();
      await t.close();
    }
  });

  it('answers stats() with one script call per data source', async () => {
    const options = storageOptions('redis');
    const prefix = (options as { keyPrefix: string }).keyPrefix;
    const t = await createTestApp(kind, { storage: options });
    const { calls, stop } = await watchCommands();
    try {
      await t.dataSource.getRepository(Post).insert([{ id: 1 }, { id: 2 }]);
      await t.dataSource.getRepository(User).insert({ id: 1 });
      await Promise.all([
        t.buffer.increment(Post, 1, 'views'),
        t.buffer.increment(Post, 1, 'likes'),
        t.buffer.increment(Post, 2, 'views'),
        t.buffer.update(User, 1, { name: 'a', active: true }),
        t.buffer.insert(ActivityLog, [
          { postId: 1, at: new Date() },
          { postId: 2, at: new Date() },
        ]),
      ]);
      await t.buffer.stats(); // the server learns the script once (EVALSHA, then EVAL)
      await new Promise((resolve) => setTimeout(resolve, 100));
      calls.length = 0;
      const stats = await t.buffer.stats();
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(stats.pending).toEqual({ counters: 3, updates: 1, inserts: 2 });
      expect(stats.inFlightBatches).toBe(0);
      const commands = calls.filter((args) => args.some((a) => a.startsWith(prefix)));
      expect(commands.map((args) => args[0].toLowerCase())).toEqual(['evalsha']);
      await t.buffer.flush();
      expect((await t.buffer.stats()).pending).toEqual({ counters: 0, updates: 0, inserts: 0 });
    } finally {
      stop();
      await t.close();
    }
  });

  it('sums stats() over data sources, one script call each', async () => {
    const options = storageOptions('redis');
    const prefix = (options as { keyPrefix: string }).keyPrefix;
    const storage = await createStorage(options);
    const { calls, stop } = await watchCommands();
    try {
      await storage.open!(['first', 'second']);
      await storage.increment({ dataSource: 'first', table: 'post' }, '[1]', 'views', 1);
      await storage.update({ dataSource: 'second', table: 'post' }, '[1]', { title: 'x' });
      await storage.insert({ dataSource: 'second', table: 'log' }, [{ n: 1 }, { n: 2 }]);
      await storage.stats(); // the server learns the script once
      await new Promise((resolve) => setTimeout(resolve, 100));
      calls.length = 0;
      expect((await storage.stats()).pending).toEqual({ counters: 1, updates: 1, inserts: 2 });
      await new Promise((resolve) => setTimeout(resolve, 100));
      const commands = calls.filter((args) => args.some((a) => a.startsWith(prefix)));
      expect(commands.map((args) => args[0].toLowerCase())).toEqual(['evalsha', 'evalsha']);
    } finally {
      stop();
      await storage.close();
    }
  });

  it('drops a drained table from the table set, and a later write adds it back', async () => {
    const options = storageOptions('redis');
    const tables = `${(options as { keyPrefix: string }).keyPrefix}{default}:tables`;
    const t = await createTestApp(kind, { storage: options });
    const raw = new Redis(REDIS_URL);
    try {
      await t.dataSource.getRepository(Post).insert({ id: 1 });
      await t.buffer.increment(Post, 1, 'views', 2);
      await t.buffer.insert(ActivityLog, { postId: 1, at: new Date() });
      expect((await raw.smembers(tables)).sort()).toEqual(['activity_log', 'post']);
      await t.buffer.flush();
      expect(await raw.exists(tables)).toBe(0);
      await t.buffer.increment(Post, 1, 'views', 3);
      expect(await raw.smembers(tables)).toEqual(['post']);
      await t.buffer.flush();
      expect(await raw.exists(tables)).toBe(0);
      expect((await t.dataSource.getRepository(Post).findOneByOrFail({ id: 1 })).views).toBe(5);
      expect(await t.dataSource.getRepository(ActivityLog).count()).toBe(1);
    } finally {
      raw.disconnect();
      await t.close();
    }
  });

  it('keeps a table in the table set while a claim leaves some of its entries pending', async () => {
    const options = storageOptions('redis');
    const tables = `${(options as { keyPrefix: string }).keyPrefix}{default}:tables`;
    const storage = await createStorage(options);
    const raw = new Redis(REDIS_URL);
    try {
      const target = { dataSource: 'default', table: 'activity_log' };
      await storage.insert(target, [{ postId: 1 }, { postId: 2 }, { postId: 3 }]);
      const lease = (await storage.lease('default', 10_000))!;
      const first = await storage.claim('default', { maxRows: 2, lease });
      expect(first?.tables[0].inserts).toEqual([{ postId: 1 }, { postId: 2 }]);
      expect(await raw.smembers(tables)).toEqual(['activity_log']);
      const second = await storage.claim('default', { maxRows: 2, lease });
      expect(second?.tables[0].inserts).toEqual([{ postId: 3 }]);
      expect(await raw.exists(tables)).toBe(0);
      expect(await storage.claim('default', { maxRows: 2, lease })).toBeNull();
      await lease.release();
    } finally {
      raw.disconnect();
      await storage.close();
    }
  });

  it('rejects a call with a stale lease with LeaseLostError, naming the data source and the cause', async () => {
    const storage = await createStorage(storageOptions('redis'));
    try {
      await storage.increment({ dataSource: 'default', table: 'post' }, '[1]', 'views', 1);
      const stale = (await storage.lease('default', 100))!;
      await new Promise((resolve) => setTimeout(resolve, 200));
      const current = (await storage.lease('default', 10_000))!;
      const error = await storage.claim('default', { maxRows: 10, lease: stale }).catch((e) => e);
      expect(error).toBeInstanceOf(LeaseLostError);
      expect(error).toBeInstanceOf(WriteBufferError);
      expect((error as Error).message).toMatch(
        /flush lease of data source 'default' is no longer held by this flusher \(another flusher holds the lease now\)/,
      );
      expect(((error as Error).cause as Error).message).toMatch(/^WBFENCED/);
      // It claimed nothing: the current holder gets the increment.
      const batch = await storage.claim('default', { maxRows: 10, lease: current });
      expect(batch?.tables[0].counters).toEqual([['[1]', { views: 1 }]]);
      await current.release();
    } finally {
      await storage.close();
    }
  });

  it('lets another instance take over a batch when the flusher stalls past its lease, applying it once', async () => {
    const database = await createTestDatabase(kind);
    const shared = storageOptions('redis');
    // Instance A's lease renewals never reach Redis, as when its process stalls.
    const stalled = await createStorage(shared);
    const storageA: BufferStorage = Object.assign(Object.create(stalled), {
      lease: async (dataSource: string, ttl: number) => {
        const lease = await stalled.lease(dataSource, ttl);
        return lease && { ...lease, renew: async () => true };
      },
    });
    const a = await createTestApp(
      kind,
      { storage: { type: 'custom', instance: storageA }, flush: { leaseTtl: 500 } },
      { database },
    );
    const b = await createTestApp(
      kind,
      { storage: shared, flush: { leaseTtl: 500 } },
      { database },
    );
    try {
      await a.dataSource.getRepository(Post).insert({ id: 1 });
      await a.buffer.increment(Post, 1, 'views', 5);
      const gate = holdAt('query', UPDATE_STATEMENT);
      const flushA = a.buffer.flush();
      await gate.reached; // A has claimed the batch and is inside its transaction
      await new Promise((resolve) => setTimeout(resolve, 700)); // A's lease expires
      const flushB = b.buffer.flush(); // B takes the lease and adopts A's batch
      await new Promise((resolve) => setTimeout(resolve, 300));
      gate.release(); // A commits; B finds the batch in the ledger
      await expect(flushA).rejects.toBeInstanceOf(LeaseLostError);
      const report = await flushB;
      expect(report.batches + report.skippedBatches).toBe(1);
      expect((await a.dataSource.getRepository(Post).findOneByOrFail({ id: 1 })).views).toBe(5);
      expect((await b.buffer.stats()).inFlightBatches).toBe(0);
    } finally {
      await a.close();
      await b.close();
      await database.drop();
    }
  });

  it('rejects writes with a clear error while Redis is down, and resumes when it is back', async () => {
    const port = await freePort();
    let server = await startRedis(port);
    const t = await createTestApp(kind, {
      storage: { type: 'redis', url: `redis://127.0.0.1:${port}`, timeout: 1000 },
      flush: { onShutdown: false },
    });
    try {
      await t.dataSource.getRepository(Post).insert({ id: 1 });
      await t.buffer.increment(Post, 1, 'views', 2);
      server.kill('SIGKILL');
      await new Promise((resolve) => server.once('exit', resolve));
      const started = Date.now();
      const error = await t.buffer.increment(Post, 1, 'views', 100).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RedisUnavailableError);
      expect((error as Error).message).toMatch(/Redis is unavailable.*not acknowledged/);
      expect(Date.now() - started).toBeLessThan(1500);
      await expect(t.buffer.flush()).rejects.toBeInstanceOf(RedisUnavailableError);

      server = await startRedis(port); // empty: the first write was lost with the server (no persistence)
      await waitFor(() =>
        t.buffer.increment(Post, 1, 'views', 3).then(
          () => true,
          () => false,
        ),
      );
      await t.buffer.flush();
      expect((await t.dataSource.getRepository(Post).findOneByOrFail({ id: 1 })).views).toBe(3);
    } finally {
      await t.close();
      server.kill('SIGKILL');
    }
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  await waitFor(async () => {
    const client = new Redis(port, '127.0.0.1', {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    client.on('error', () => undefined);
    const up = await client.connect().then(
      () => true,
      () => false,
    );
    // A client that never connected has ended; disconnecting it would arm a 2 s timer.
    if (up) client.disconnect();
    return up;
  });
  return child;
}

async function waitFor(check: () => Promise<boolean>, timeout = 10_000) {
  const until = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
