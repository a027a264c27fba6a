import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import Database from 'better-sqlite3';
import { WriteBufferConfigError } from '../lib/index.js';
import type { DeadLetter } from '../lib/flush/dead-letter.interface.js';
import { createStorage } from '../lib/storage/create-storage.js';
import { POSTGRES_URL, postgresAvailable } from './support/databases.js';
import { buildCrashApp, runSharedCrash, startApp, type App } from './crash/crash-harness.js';

/**
 * Several real processes (the crash app, test/crash/crash-app.ts) sharing
 * one LMDB environment: reads across processes, SIGKILLs at random and in
 * the middle of a flush, a flusher killed between its commit and its ack.
 */
const log = (line: string) => process.stdout.write(`${line}\n`);
const databases: Array<[string, string | undefined]> = [
  ['SQLite', undefined],
  ...((await postgresAvailable()) ? [['PostgreSQL', POSTGRES_URL] as [string, string]] : []),
];

describe('shared LMDB storage format', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'wb-shared-format-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("refuses a memory storage's journal, and a journal refuses an lmdb environment", async () => {
    const journalPath = join(dir, 'journal.mdb');
    await (await createStorage({ type: 'memory', journal: { path: journalPath } })).close();
    const refused = createStorage({ type: 'lmdb', path: journalPath });
    await expect(refused).rejects.toThrow(WriteBufferConfigError);
    await expect(refused).rejects.toThrow(
      /has format "1"; the lmdb storage .* reads format 'shared-1'/,
    );

    const sharedPath = join(dir, 'buffer.mdb');
    await (await createStorage({ type: 'lmdb', path: sharedPath })).close();
    const journal = createStorage({ type: 'memory', journal: { path: sharedPath } });
    await expect(journal).rejects.toThrow(/has format "shared-1"; this version reads format 1/);
    // Refused, not spoiled: the lmdb storage still opens it.
    await (await createStorage({ type: 'lmdb', path: sharedPath })).close();
  });
});

describe('shared LMDB storage across processes (real processes, SIGKILL)', () => {
  let entry: string;
  beforeAll(() => {
    entry = buildCrashApp();
  }, 180_000);

  describe('get() in one process', () => {
    let dataDir: string;
    const apps: App[] = [];
    beforeAll(() => {
      dataDir = mkdtempSync(join(tmpdir(), 'wb-shared-get-'));
    });
    afterAll(async () => {
      await Promise.all(apps.map((app) => app.kill()));
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('sees increments acknowledged in another, before any flush', async () => {
      const env = { DATA_DIR: dataDir, LMDB_PATH: join(dataDir, 'buffer.mdb'), FLUSH_CRON: 'off' };
      apps.push(await startApp(entry, env, log)); // creates and seeds the tables
      apps.push(await startApp(entry, env, log));
      const [a, b] = apps;
      const post = (app: App, path: string) =>
        fetch(`http://127.0.0.1:${app.port}${path}`, { method: 'POST' });
      const read = async (app: App, id: number) =>
        ((await (await fetch(`http://127.0.0.1:${app.port}/c/${id}`)).json()) as { n: number }).n;
      const stored = (id: number) => {
        const db = new Database(join(dataDir, 'crash.sqlite'), { readonly: true });
        const row = db.prepare('SELECT n FROM crash_counter WHERE id = ?').get(id) as { n: number };
        db.close();
        return row.n;
      };

      expect((await post(a, '/c/1/5')).status).toBe(204);
      expect(await read(b, 1)).toBe(5);
      expect((await post(b, '/c/1/2')).status).toBe(204);
      expect(await read(a, 1)).toBe(7);
      expect(stored(1)).toBe(0);

      expect((await post(b, '/flush')).ok).toBe(true);
      expect(stored(1)).toBe(7);
      expect([await read(a, 1), await read(b, 1)]).toEqual([7, 7]);
    }, 120_000);

    it("a discard from another process drops the row's writes it buffered", async () => {
      const [a, b] = apps;
      const post = (app: App, path: string) =>
        fetch(`http://127.0.0.1:${app.port}${path}`, { method: 'POST' });
      const read = async (app: App, id: number) =>
        ((await (await fetch(`http://127.0.0.1:${app.port}/c/${id}`)).json()) as { n: number }).n;
      const storage = await createStorage({ type: 'lmdb', path: join(dataDir, 'buffer.mdb') });
      try {
        expect((await post(a, '/c/2/5')).status).toBe(204);
        expect((await post(b, '/c/2/1')).status).toBe(204);
        expect((await post(a, '/c/3/4')).status).toBe(204);
        // This test process is a third one on the environment.
        const row = { dataSource: 'default', table: 'crash_counter' };
        expect(await storage.discard!(row, '[2]')).toEqual({ discarded: 1, inFlight: 0 });
        expect([await read(a, 2), await read(b, 2)]).toEqual([0, 0]);
        expect((await post(b, '/c/2/2')).status).toBe(204);
        expect((await post(a, '/flush')).ok).toBe(true);
        const db = new Database(join(dataDir, 'crash.sqlite'), { readonly: true });
        const rows = db
          .prepare('SELECT id, n FROM crash_counter WHERE id IN (2, 3) ORDER BY id')
          .all();
        db.close();
        expect(rows).toEqual([
          { id: 2, n: 2 },
          { id: 3, n: 4 },
        ]);
      } finally {
        await storage.close();
      }
    }, 120_000);
  });

  it.each(databases)(
    'four processes on %s: two SIGKILLed (one mid-flush, one at random), restarted, drained: nothing lost, nothing doubled',
    async (_name, postgresUrl) => {
      const result = await runSharedCrash({
        storage: { lmdb: true },
        processes: 4,
        kills: ['statement', 'random'],
        postgresUrl,
        entry,
        log,
      });
      log(`shared lmdb: acked=${result.acked} lost=${result.lost} doubled=${result.doubled}`);
      expect(result.acked).toBeGreaterThan(100);
      expect(result).toMatchObject({ lost: 0, doubled: 0, inFlight: 0, pending: 0 });
    },
    300_000,
  );

  it('a flusher SIGKILLed between commit and ack is taken over; its batch is applied once', async () => {
    const result = await runSharedCrash({
      storage: { lmdb: true },
      processes: 2,
      kills: ['commit'],
      entry,
      log,
    });
    log(
      `shared lmdb handover: acked=${result.acked} lost=${result.lost} doubled=${result.doubled}`,
    );
    expect(result.acked).toBeGreaterThan(100);
    expect(result).toMatchObject({ lost: 0, doubled: 0, inFlight: 0, pending: 0 });
  }, 300_000);
});

describe('shared LMDB storage: a write it refuses', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'wb-shared-refused-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('leaves nothing of it behind: no row claimed, no cell misread, no count changed', async () => {
    const storage = await createStorage({ type: 'lmdb', path: join(dir, 'buffer.mdb') });
    const target = { dataSource: 'default', table: 'item' };
    // Past LMDB's largest key: the write is refused after part of it was written.
    const tooLong = JSON.stringify(['x'.repeat(3000)]);
    const refused = storage.insert(
      target,
      [
        { id: 'a', n: 1 },
        { id: 'x', n: 2 },
      ],
      ['["a"]', tooLong],
    );
    await expect(refused).rejects.toThrow(/maximum key size/);
    await expect(storage.increment(target, tooLong, 'n', 5)).rejects.toThrow(/maximum key size/);
    await storage.insert(target, [{ id: 'c', n: 3 }], ['["c"]']);

    expect((await storage.read(target, '["a"]', 'n')).layers).toEqual([]);
    expect((await storage.stats()).pending).toEqual({ counters: 0, updates: 0, inserts: 1 });
    const lease = (await storage.lease('default', 60_000))!;
    const batch = await storage.claim('default', { lease, maxRows: 100 });
    expect(batch?.tables).toEqual([
      {
        table: 'item',
        inserts: [{ id: 'c', n: 3 }],
        insertKeys: ['["c"]'],
        updates: [],
        counters: [],
      },
    ]);
    await storage.close();
  });

  it('fails alone among the writes of its event-loop turn', async () => {
    const storage = await createStorage({ type: 'lmdb', path: join(dir, 'turn.mdb') });
    const target = { dataSource: 'default', table: 'item' };
    const tooLong = JSON.stringify(['x'.repeat(3000)]);
    // Issued in one turn: one transaction, the refused write between two others.
    const before = storage.increment(target, '["a"]', 'n', 2);
    const refused = storage.increment(target, tooLong, 'n', 5);
    const after = storage.update(target, '["b"]', { n: 7 });
    await expect(refused).rejects.toThrow(/maximum key size/);
    await expect(Promise.all([before, after])).resolves.toEqual([undefined, undefined]);

    expect((await storage.read(target, '["a"]', 'n')).layers).toEqual([
      { batchId: undefined, isSet: false, value: undefined, delta: 2 },
    ]);
    expect((await storage.read(target, '["b"]', 'n')).layers).toEqual([
      { batchId: undefined, isSet: true, value: 7, delta: 0 },
    ]);
    expect((await storage.stats()).pending).toEqual({ counters: 1, updates: 1, inserts: 0 });
    await storage.close();
  });
});

describe('shared LMDB storage: dead letters named twice', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'wb-shared-letters-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('are buffered again once, and counted once', async () => {
    const storage = await createStorage({ type: 'lmdb', path: join(dir, 'buffer.mdb') });
    const target = { dataSource: 'default', table: 'item' };
    await storage.increment(target, '[1]', 'n', 5);
    await storage.increment(target, '[2]', 'n', 7);
    const lease = (await storage.lease('default', 60_000))!;
    const batch = (await storage.claim('default', { lease, maxRows: 100 }))!;
    const letter = (id: string, rowKey: string, n: number): DeadLetter => ({
      id,
      dataSource: 'default',
      table: 'item',
      entity: 'Item',
      rowKey,
      seq: id,
      kind: 'counter',
      payload: { n },
      error: 'refused',
      at: new Date(),
    });
    const letters = [letter('L1', '[1]', 5), letter('L2', '[2]', 7)];
    expect(await storage.ack(batch, lease, { letters, max: 10 })).toBe(2);

    expect(await storage.requeueDeadLetters('default', ['L1', 'L1'])).toBe(1);
    const deltas = (await storage.read(target, '[1]', 'n')).layers.map((layer) => layer.delta);
    expect(deltas).toEqual([5]);
    expect(await storage.removeDeadLetters('default', ['L2', 'L2'])).toBe(1);
    const stats = await storage.stats();
    expect(stats.pending.counters).toBe(1);
    expect(stats.deadLetters).toBe(0);
    await storage.close();
  });
});
