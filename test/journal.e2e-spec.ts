import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';

import { MemoryStorage, type ClaimedBatch, type FlushLease } from '../lib/index.js';
import { LmdbJournal } from '../lib/storage/lmdb-journal.js';
import { createTestDatabase, databaseKinds, type TestDatabase } from './support/databases.js';
import { ActivityLog, Post, User } from './support/entities.js';
import { scratchSpace } from './support/scratch.js';
import { createTestApp } from './support/test-app.js';

const { databases, journalPath } = scratchSpace('wb-journal-');

describe.each(await databaseKinds())('LMDB journal on %s', (kind) => {
  const open = async (path: string, database: TestDatabase) =>
    createTestApp(
      kind,
      { storage: { type: 'memory', journal: { path } }, flush: { onShutdown: false } },
      { database },
    );

  it('brings pending writes back after a restart, values intact', async () => {
    const path = journalPath();
    const database = await createTestDatabase(kind);
    databases.push(database);
    const seen = new Date('2026-07-08T09:10:11.012Z');
    let t = await open(path, database);
    await t.dataSource.getRepository(Post).insert([{ id: 1 }, { id: 2 }]);
    await t.dataSource.getRepository(User).insert({ id: 1 });
    await t.buffer.increment(Post, 1, 'views', 3);
    await t.buffer.increment(Post, 2, 'score', 1.5);
    await t.buffer.update(User, 1, {
      lastSeenAt: seen,
      name: null,
      active: true,
      profile: { a: [1, 'x'] },
    });
    await t.buffer.insert(ActivityLog, [
      { postId: 1, at: seen, ip: 'a' },
      { postId: 2, at: seen, ip: null },
    ]);
    await t.close(); // no final flush: everything stays in the journal

    t = await open(path, database);
    expect((await t.buffer.stats()).pending).toEqual({ counters: 2, updates: 1, inserts: 2 });
    expect(await t.buffer.get(Post, 1, 'views')).toBe(3);
    await t.buffer.flush();
    const posts = await t.dataSource.getRepository(Post).find({ order: { id: 'ASC' } });
    expect(posts.map((p) => [p.views, p.score])).toEqual([
      [3, 0],
      [0, 1.5],
    ]);
    const user = await t.dataSource.getRepository(User).findOneByOrFail({ id: 1 });
    expect(user).toMatchObject({ name: null, active: true, profile: { a: [1, 'x'] } });
    expect(user.lastSeenAt?.toISOString()).toBe(seen.toISOString());
    const logs = await t.dataSource.getRepository(ActivityLog).find({ order: { id: 'ASC' } });
    expect(logs.map((l) => [l.postId, l.ip])).toEqual([
      [1, 'a'],
      [2, null],
    ]);
    await t.close();
  });

  it('does not bring back a write that a flush claimed in the same event-loop turn', async () => {
    const path = journalPath();
    const database = await createTestDatabase(kind);
    databases.push(database);
    let t = await open(path, database);
    await t.dataSource.getRepository(Post).insert({ id: 1 });
    // The claim runs before the turn's journal write of the row: it must wait for it.
    await Promise.all([t.buffer.increment(Post, 1, 'views', 5), t.buffer.flush()]);
    await t.buffer.flush();
    await t.close();

    t = await open(path, database);
    expect((await t.buffer.stats()).pending).toEqual({ counters: 0, updates: 0, inserts: 0 });
    await t.buffer.flush();
    expect((await t.dataSource.getRepository(Post).findOneByOrFail({ id: 1 })).views).toBe(5);
    await t.close();
  });

  it('re-applies an in-flight batch at start-up exactly once', async () => {
    const path = journalPath();
    const database = await createTestDatabase(kind);
    databases.push(database);
    // First life: the batch commits, then the ack never happens.
    const storage = new (class extends MemoryStorage {
      override async ack(_batch: ClaimedBatch, _lease: FlushLease): Promise<number> {
        throw new Error('process died before ack');
      }
    })(new LmdbJournal({ path }));
    let t = await createTestApp(
      kind,
      { storage: { type: 'custom', instance: storage }, flush: { onShutdown: false } },
      { database },
    );
    await t.dataSource.getRepository(Post).insert({ id: 1 });
    await t.buffer.increment(Post, 1, 'views', 5);
    await t.buffer.insert(ActivityLog, { postId: 1, at: new Date() });
    await expect(t.buffer.flush()).rejects.toThrow(/before ack/);
    await t.close();

    t = await open(path, database);
    // Start-up already re-applied (a no-op thanks to the ledger) and acked it.
    expect((await t.buffer.stats()).inFlightBatches).toBe(0);
    expect((await t.dataSource.getRepository(Post).findOneByOrFail({ id: 1 })).views).toBe(5);
    expect(await t.dataSource.getRepository(ActivityLog).count()).toBe(1);
    await t.close();
  });

  it('shrinks back to near-empty after a full flush', async () => {
    const path = journalPath();
    const database = await createTestDatabase(kind);
    databases.push(database);
    const t = await open(path, database);
    for (let from = 0; from < 2000; from += 200) {
      await t.dataSource
        .getRepository(Post)
        .insert(Array.from({ length: 200 }, (_, i) => ({ id: from + i + 1 })));
    }
    await Promise.all(
      Array.from({ length: 2000 }, (_, i) => t.buffer.increment(Post, i + 1, 'views', 1)),
    );
    await t.buffer.insert(
      ActivityLog,
      Array.from({ length: 2000 }, (_, i) => ({ postId: i, at: new Date(), ip: 'x'.repeat(40) })),
    );
    const full = (await t.buffer.stats()).journal!;
    expect(full.entries).toBe(4000);
    await t.buffer.flush();
    const empty = (await t.buffer.stats()).journal!;
    expect(empty.entries).toBe(0);
    expect(empty.bytes).toBeLessThan(full.bytes / 10);
    await t.close();
  });
});
