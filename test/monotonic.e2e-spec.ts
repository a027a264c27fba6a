import 'reflect-metadata';
import { afterAll, afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { Column, Entity, PrimaryColumn } from 'typeorm';
import {
  UnsuitableColumnError,
  WriteBufferConfigError,
  type WriteBufferEntityOptions,
  type WriteBufferStorageOptions,
} from '../lib/index.js';
import { createTestDatabase, databaseKinds, type DatabaseKind } from './support/databases.js';
import { UPDATE_STATEMENT } from './support/query-counter.js';
import { holdAt } from './support/query-gate.js';
import {
  closeTestClients,
  storageKinds,
  storageOptions,
  type StorageKind,
} from './support/storages.js';
import { createTestApp, type TestApp } from './support/test-app.js';
import { featureModule } from './support/feature-module.js';

@Entity('wb_visitor')
class Visitor {
  @PrimaryColumn('int')
  id!: number;

  // Milliseconds kept on MariaDB too (its datetime defaults to whole seconds).
  @Column({ type: Date, nullable: true, precision: 3 })
  lastSeenAt!: Date | null;

  @Column({ type: Date, nullable: true, precision: 3 })
  firstSeenAt!: Date | null;

  @Column('int', { nullable: true })
  bestScore!: number | null;

  @Column('float', { nullable: true })
  lowestPrice!: number | null;

  @Column('varchar', { length: 40, nullable: true })
  name!: string | null;

  @Column('decimal', { precision: 12, scale: 2, nullable: true })
  balance!: string | null;

  @Column('int', { default: 0 })
  visits!: number;
}

const MERGE: WriteBufferEntityOptions = {
  entity: Visitor,
  merge: { lastSeenAt: 'max', firstSeenAt: 'min', bestScore: 'max', lowestPrice: 'min' },
};

function open(
  kind: DatabaseKind,
  storage: WriteBufferStorageOptions,
  database?: TestApp['database'],
  feature: WriteBufferEntityOptions = MERGE,
) {
  return createTestApp(
    kind,
    { storage },
    { entities: [Visitor], imports: [featureModule([feature])], database },
  );
}

/** A deterministic shuffle (the same order on every run). */
function shuffled<T>(items: T[], seed = 7): T[] {
  const out = [...items];
  let state = seed;
  for (let i = out.length - 1; i > 0; i--) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

const BASE = Date.UTC(2026, 0, 1, 12, 0, 0, 0);
const at = (seconds: number) => new Date(BASE + seconds * 1000 + 123);

const storages = await storageKinds();
const combos = (await databaseKinds()).flatMap((db) =>
  storages.map((storage) => [db, storage] as [DatabaseKind, StorageKind]),
);
const SHARED: StorageKind[] = ['lmdb', 'redis', 'redis-cluster'];

afterAll(closeTestClients);

describe.each(combos)('merged (max/min) updates on %s with %s storage', (kind, storageKind) => {
  let t: TestApp;
  /** The apps writing: two sharing one storage where it can be shared, else one. */
  let writers: TestApp[];

  beforeEach(async () => {
    const storage = storageOptions(storageKind);
    t = await open(kind, storage);
    writers = [t];
    if (SHARED.includes(storageKind)) writers.push(await open(kind, storage, t.database));
    await t.dataSource.getRepository(Visitor).insert([{ id: 1 }, { id: 2 }, { id: 3 }]);
  });
  afterEach(async () => {
    for (const writer of writers.slice(1)) await writer.close();
    await t.close();
  });

  const row = (id: number) => t.dataSource.getRepository(Visitor).findOneByOrFail({ id });

  it('ends at the greatest (least) value whatever order racing writers arrive and flush in', async () => {
    const seconds = shuffled(Array.from({ length: 40 }, (_, i) => i + 1));
    await Promise.all(
      seconds.map(async (s, i) => {
        const writer = writers[i % writers.length];
        await writer.buffer.update(Visitor, 1, {
          lastSeenAt: at(s),
          firstSeenAt: at(s),
          bestScore: s,
          lowestPrice: s / 4,
        });
        // Flushes in the middle: some values are applied before lesser ones arrive.
        if (i % 13 === 5) await writer.buffer.flush();
      }),
    );
    expect(await t.buffer.get(Visitor, 1, 'lastSeenAt')).toEqual(at(40));
    expect(await writers.at(-1)!.buffer.get(Visitor, 1, 'firstSeenAt')).toEqual(at(1));
    expect(await t.buffer.get(Visitor, 1, 'bestScore')).toBe(40);
    expect(await t.buffer.get(Visitor, 1, 'lowestPrice')).toBe(0.25);
    await Promise.all(writers.map((writer) => writer.buffer.flush()));
    expect(await row(1)).toMatchObject({
      lastSeenAt: at(40),
      firstSeenAt: at(1),
      bestScore: 40,
      lowestPrice: 0.25,
    });
  });

  it('keeps a pending value when a lesser one arrives later, in the buffer too', async () => {
    await t.buffer.update(Visitor, 1, { lastSeenAt: at(9), bestScore: 9 });
    await writers.at(-1)!.buffer.update(Visitor, 1, { lastSeenAt: at(3), bestScore: 3 });
    await t.buffer.update(Visitor, 1, { lastSeenAt: null, bestScore: null });
    expect(await t.buffer.get(Visitor, 1, 'lastSeenAt')).toEqual(at(9));
    await t.buffer.flush();
    expect(await row(1)).toMatchObject({ lastSeenAt: at(9), bestScore: 9 });
  });

  it('leaves a database value that is already greater (less) than everything buffered', async () => {
    await t.dataSource
      .getRepository(Visitor)
      .update({ id: 2 }, { lastSeenAt: at(100), firstSeenAt: at(-100), bestScore: 100 });
    for (const s of [5, 50, 20]) {
      await t.buffer.update(Visitor, 2, { lastSeenAt: at(s), firstSeenAt: at(s), bestScore: s });
    }
    expect(await t.buffer.get(Visitor, 2, 'lastSeenAt')).toEqual(at(100));
    expect(await t.buffer.get(Visitor, 2, 'firstSeenAt')).toEqual(at(-100));
    expect(await t.buffer.get(Visitor, 2, 'bestScore')).toBe(100);
    await t.buffer.flush();
    expect(await row(2)).toMatchObject({
      lastSeenAt: at(100),
      firstSeenAt: at(-100),
      bestScore: 100,
    });
  });

  it('reads the buffered value over an older database one with get() before the flush', async () => {
    await t.dataSource.getRepository(Visitor).update({ id: 3 }, { lastSeenAt: at(1) });
    await t.buffer.update(Visitor, 3, { lastSeenAt: at(2) });
    expect(await t.buffer.get(Visitor, 3, 'lastSeenAt')).toEqual(at(2));
    expect(await t.buffer.get(Visitor, 3, 'firstSeenAt')).toBeNull();
    expect((await row(3)).lastSeenAt).toEqual(at(1));
    await t.buffer.flush();
    expect((await row(3)).lastSeenAt).toEqual(at(2));
    expect(await t.buffer.get(Visitor, 3, 'lastSeenAt')).toEqual(at(2));
  });

  it('reads and keeps the greatest of an in-flight batch and later, lesser writes', async () => {
    await t.buffer.update(Visitor, 1, { lastSeenAt: at(30), firstSeenAt: at(30) });
    const gate = holdAt('query', UPDATE_STATEMENT);
    const flushing = t.buffer.flush();
    await gate.reached;
    await writers.at(-1)!.buffer.update(Visitor, 1, { lastSeenAt: at(20), firstSeenAt: at(20) });
    expect(await t.buffer.get(Visitor, 1, 'lastSeenAt')).toEqual(at(30));
    expect(await t.buffer.get(Visitor, 1, 'firstSeenAt')).toEqual(at(20));
    gate.release();
    await flushing;
    await writers.at(-1)!.buffer.flush();
    expect(await row(1)).toMatchObject({ lastSeenAt: at(30), firstSeenAt: at(20) });
  });

  it('merges a retried dead letter with what is pending, never lowering it', async () => {
    await t.buffer.update(Visitor, 98, { lastSeenAt: at(9) });
    await t.buffer.update(Visitor, 99, { lastSeenAt: at(9) });
    expect(await t.buffer.flush()).toMatchObject({ deadLettered: 2 });
    await t.dataSource.getRepository(Visitor).insert([{ id: 98 }, { id: 99 }]);
    await t.buffer.update(Visitor, 98, { lastSeenAt: at(5) });
    await t.buffer.update(Visitor, 99, { lastSeenAt: at(12) });
    expect(await writers.at(-1)!.buffer.retryDeadLetters()).toBe(2);
    await t.buffer.update(Visitor, 98, { lastSeenAt: at(7) });
    expect(await t.buffer.get(Visitor, 98, 'lastSeenAt')).toEqual(at(9));
    await t.buffer.flush();
    expect((await row(98)).lastSeenAt).toEqual(at(9));
    expect((await row(99)).lastSeenAt).toEqual(at(12));
  });

  it('merges a max column and a last-write-wins column of one patch in one statement', async () => {
    await t.buffer.update(Visitor, 1, { lastSeenAt: at(8), name: 'first' });
    await t.buffer.update(Visitor, 1, { lastSeenAt: at(4), name: 'second' });
    await t.buffer.update(Visitor, 2, { lastSeenAt: at(1), name: 'other' });
    await t.dataSource.getRepository(Visitor).update({ id: 2 }, { lastSeenAt: at(6) });
    t.queries.reset();
    await t.buffer.flush();
    expect(t.queries.writes().filter((q) => UPDATE_STATEMENT.test(q))).toHaveLength(1);
    expect(await row(1)).toMatchObject({ lastSeenAt: at(8), name: 'second' });
    expect(await row(2)).toMatchObject({ lastSeenAt: at(6), name: 'other' });
  });

  it('refuses to increment a merged column and buffers nothing', async () => {
    await expect(t.buffer.increment(Visitor, 1, 'bestScore' as 'visits')).rejects.toThrow(
      UnsuitableColumnError,
    );
    await expect(t.buffer.increment(Visitor, 1, 'bestScore' as 'visits')).rejects.toThrow(
      /merges its updates with 'max'/,
    );
    expect((await t.buffer.stats()).pending).toMatchObject({ counters: 0, updates: 0 });
  });
});

describe.each(['journal', 'lmdb'] as const)('merged updates across a restart (%s)', (kind) => {
  it('keeps the ranks of pending values: a lesser write after the restart does not replace them', async () => {
    const database = await createTestDatabase('sqlite');
    const storage = storageOptions(kind);
    const start = () =>
      createTestApp(
        'sqlite',
        { storage, flush: { onShutdown: false } },
        { entities: [Visitor], imports: [featureModule([MERGE])], database },
      );
    try {
      const before = await start();
      await before.dataSource.getRepository(Visitor).insert({ id: 1 });
      await before.buffer.update(Visitor, 1, { lastSeenAt: at(9), firstSeenAt: at(9) });
      await before.close();
      const after = await start();
      try {
        await after.buffer.update(Visitor, 1, { lastSeenAt: at(3), firstSeenAt: at(12) });
        await after.buffer.flush();
        expect(
          await after.dataSource.getRepository(Visitor).findOneByOrFail({ id: 1 }),
        ).toMatchObject({ lastSeenAt: at(9), firstSeenAt: at(9) });
      } finally {
        await after.close();
      }
    } finally {
      await database.drop();
    }
  });
});

describe('merged updates: start-up checks', () => {
  const refused = (merge: unknown) =>
    open('sqlite', { type: 'memory' }, undefined, { entity: Visitor, merge } as never);

  it.each([
    [{ lastSeen: 'max' }, /merge\.lastSeen: it is not a column of the entity\. .*'lastSeenAt'/],
    [{ id: 'max' }, /merge\.id: it is a primary column/],
    [
      { name: 'max' },
      /merge\.name: its type 'varchar' is not an integer, floating-point or timestamp/,
    ],
    [{ balance: 'min' }, /merge\.balance: its type 'decimal' holds exact decimals/],
    [{ lastSeenAt: 'latest' }, /merge\.lastSeenAt must be 'max' or 'min', not "latest"/],
    [['lastSeenAt'], /merge must be an object such as \{ lastSeenAt: 'max' \}/],
  ])('refuses merge %j at start', async (merge, message) => {
    const start = refused(merge);
    await expect(start).rejects.toThrow(WriteBufferConfigError);
    await expect(refused(merge)).rejects.toThrow(message);
  });

  it('refuses a merged integer beyond 2^53 (it could not be compared exactly)', async () => {
    const t = await open('sqlite', { type: 'memory' });
    try {
      await expect(
        t.buffer.update(Visitor, 1, { bestScore: '9007199254740993' as unknown as number }),
      ).rejects.toThrow(/a safe integer \(a merged column\)/);
      expect((await t.buffer.stats()).pending.updates).toBe(0);
    } finally {
      await t.close();
    }
  });
});
