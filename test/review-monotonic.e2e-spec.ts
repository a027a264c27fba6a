import 'reflect-metadata';
import { afterAll, afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { Module, type DynamicModule } from '@nestjs/common';
import { Column, Entity, PrimaryColumn } from 'typeorm';
import {
  WriteBufferModule,
  type WriteBufferEntityOptions,
  type WriteBufferStorageOptions,
} from '../lib/index.js';
import { databaseKinds, type DatabaseKind } from './support/databases.js';
import {
  closeTestClients,
  storageKinds,
  storageOptions,
  type StorageKind,
} from './support/storages.js';
import { createTestApp, type TestApp } from './support/test-app.js';

@Entity('wb_review_seen')
class Seen {
  @PrimaryColumn('varchar', { length: 20 })
  name!: string;

  @Column('int', { nullable: true })
  best!: number | null;

  @Column('float', { nullable: true })
  low!: number | null;

  // Milliseconds on MariaDB too (a merged timestamp must keep them).
  @Column({ type: Date, nullable: true, precision: 3 })
  seenAt!: Date | null;

  @Column('bigint', { nullable: true })
  big!: string | null;

  @Column('int', { default: 0 })
  hits!: number;
}

const MERGE = { best: 'max', low: 'min', seenAt: 'max', big: 'max' } as const;

function open(
  kind: DatabaseKind,
  storage: WriteBufferStorageOptions,
  settings: Partial<WriteBufferEntityOptions> = {},
  database?: TestApp['database'],
) {
  @Module({
    imports: [WriteBufferModule.forFeature([{ entity: Seen, merge: MERGE, ...settings }])],
  })
  class SeenModule {}
  const feature: DynamicModule = { module: SeenModule };
  return createTestApp(kind, { storage }, { entities: [Seen], imports: [feature], database });
}

const BASE = Date.UTC(2026, 0, 1, 12, 0, 0, 0);
const databases = await databaseKinds();
const storages = await storageKinds();

afterAll(closeTestClients);

describe.each(databases)('review of merged (max/min) updates on %s', (kind) => {
  let t: TestApp;
  const row = (name: string) => t.dataSource.getRepository(Seen).findOneByOrFail({ name });

  beforeEach(async () => {
    t = await open(kind, { type: 'memory' });
  });
  afterEach(() => t.close());

  const onMariadb = kind === 'mariadb' ? it : it.skip;

  onMariadb(
    'keeps the greatest value when two spellings of one key (a collation folds them) are merged',
    async () => {
      // utf8mb4_general_ci compares every character beyond the BMP equal; the buffer keeps them apart.
      await t.dataSource.getRepository(Seen).insert({ name: '😀', best: 1, low: 100 });
      await t.buffer.update(Seen, '😀', { best: 10, low: 2 });
      await t.buffer.update(Seen, '😁', { best: 5, low: 7 });
      expect(await t.buffer.get(Seen, '😀', 'best')).toBe(10);
      expect(await t.buffer.get(Seen, '😀', 'low')).toBe(2);
      await t.buffer.flush();
      expect(await row('😀')).toMatchObject({ best: 10, low: 2 });
    },
  );

  it('get() of a timestamp column reports what the database holds after the flush', async () => {
    await t.dataSource.getRepository(Seen).insert({ name: 'p' });
    await t.buffer.update(Seen, 'p', { seenAt: new Date(BASE + 900) });
    const reported = await t.buffer.get(Seen, 'p', 'seenAt');
    await t.buffer.flush();
    expect((await row('p')).seenAt).toEqual(reported);
  });

  const coarse = kind === 'sqlite' ? it.skip : it;
  coarse('refuses at start a timestamp column that keeps whole seconds', async () => {
    @Entity('wb_review_coarse')
    class Coarse {
      @PrimaryColumn('int')
      id!: number;

      @Column({ type: Date, nullable: true, precision: kind === 'mariadb' ? undefined : 0 })
      seenAt!: Date | null;
    }
    @Module({
      imports: [WriteBufferModule.forFeature([{ entity: Coarse, merge: { seenAt: 'max' } }])],
    })
    class CoarseModule {}
    await expect(
      createTestApp(
        kind,
        { storage: { type: 'memory' } },
        { entities: [Coarse], imports: [{ module: CoarseModule }] },
      ),
    ).rejects.toThrow(/merge\.seenAt: it keeps 0 fractional digits .*\{ precision: 3 \}/);
  });

  it('reads a bigint merged column as a number and accepts integers for it', async () => {
    await t.dataSource.getRepository(Seen).insert({ name: 'b', big: '7' });
    await t.buffer.update(Seen, 'b', { big: 5 as unknown as string });
    expect(await t.buffer.get(Seen, 'b', 'big')).toBe(7);
    await t.buffer.update(Seen, 'b', { big: 9 as unknown as string });
    expect(await t.buffer.get(Seen, 'b', 'big')).toBe(9);
    await t.buffer.flush();
    expect(Number((await row('b')).big)).toBe(9);
  });

  it('keeps negative floats and integers near 2^31 by their order', async () => {
    await t.dataSource.getRepository(Seen).insert({ name: 'n', low: -0.5, best: 2 ** 31 - 10 });
    await t.buffer.update(Seen, 'n', { low: -1.5, best: 2 ** 31 - 1 });
    await t.buffer.update(Seen, 'n', { low: -1.25, best: -(2 ** 31) });
    expect(await t.buffer.get(Seen, 'n', 'low')).toBe(-1.5);
    expect(await t.buffer.get(Seen, 'n', 'best')).toBe(2 ** 31 - 1);
    await t.buffer.flush();
    expect(await row('n')).toMatchObject({ low: -1.5, best: 2 ** 31 - 1 });
  });

  it('merges a column and counts another of the same row in one flush', async () => {
    await t.dataSource.getRepository(Seen).insert({ name: 'c', best: 50 });
    await t.buffer.increment(Seen, 'c', 'hits', 3);
    await t.buffer.update(Seen, 'c', { best: 20 });
    await t.buffer.increment(Seen, 'c', 'hits', 2);
    expect(await t.buffer.get(Seen, 'c', 'best')).toBe(50);
    expect(await t.buffer.get(Seen, 'c', 'hits')).toBe(5);
    await t.buffer.flush();
    expect(await row('c')).toMatchObject({ best: 50, hits: 5 });
  });
});

const SHARED: StorageKind[] = ['lmdb', 'redis', 'redis-cluster'];
const combos = databases.flatMap((db) =>
  storages.map((storage) => [db, storage] as [DatabaseKind, StorageKind]),
);

describe.each(combos)('review of merged updates on %s with %s storage', (kind, storageKind) => {
  let t: TestApp;
  let other: TestApp;
  const row = (name: string) => t.dataSource.getRepository(Seen).findOneBy({ name });

  beforeEach(async () => {
    const storage = storageOptions(storageKind);
    t = await open(kind, storage, { onMissingRow: 'insert' });
    other = SHARED.includes(storageKind)
      ? await open(kind, storage, { onMissingRow: 'insert' }, t.database)
      : t;
  });
  afterEach(async () => {
    if (other !== t) await other.close();
    await t.close();
  });

  it('upserts a missing row with the greatest value whatever order racing writers flush in', async () => {
    await t.buffer.update(Seen, 'u', { best: 10, seenAt: new Date(BASE + 10_000) });
    await t.buffer.increment(Seen, 'u', 'hits');
    await t.buffer.flush();
    await other.buffer.update(Seen, 'u', { best: 3, low: 4, seenAt: new Date(BASE + 3_000) });
    await other.buffer.increment(Seen, 'u', 'hits');
    await t.buffer.update(Seen, 'u', { best: 7, low: 9 });
    await t.buffer.update(Seen, 'u', { best: null, low: null, seenAt: null });
    expect(await other.buffer.get(Seen, 'u', 'best')).toBe(10);
    expect(await t.buffer.get(Seen, 'u', 'low')).toBe(4);
    await other.buffer.flush();
    await t.buffer.flush();
    expect(await row('u')).toMatchObject({
      best: 10,
      low: 4,
      seenAt: new Date(BASE + 10_000),
      hits: 2,
    });
  });

  it('keeps a pending insert value over a lesser later update', async () => {
    await t.buffer.insert(Seen, { name: 'i', best: 10, low: 1 });
    await other.buffer.update(Seen, 'i', { best: 3, low: 5 });
    expect(await t.buffer.get(Seen, 'i', 'best')).toBe(10);
    expect(await other.buffer.get(Seen, 'i', 'low')).toBe(1);
    await t.buffer.flush();
    await other.buffer.flush();
    expect(await row('i')).toMatchObject({ best: 10, low: 1 });
  });
});
