import 'reflect-metadata';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { Column, Entity, PrimaryColumn } from 'typeorm';
import { databaseKinds, type DatabaseKind } from './support/databases.js';
import { closeTestClients } from './support/storages.js';
import type { TestApp } from './support/test-app.js';
import { upsertApp } from './support/feature-module.js';

/** A stock the database keeps from going below zero with a BEFORE trigger. */
@Entity('ru_stock')
class ClampedStock {
  @PrimaryColumn('int')
  id!: number;

  @Column('int', { default: 0 })
  stock!: number;
}

/** Counters of two decimal columns and a float column. */
abstract class AmountColumns {
  @PrimaryColumn('int')
  id!: number;

  @Column('decimal', { precision: 10, scale: 2, default: 0 })
  amount!: string;

  @Column('float', { default: 0 })
  ratio!: number;

  /** No scale: MySQL and MariaDB keep whole numbers (`DECIMAL(10, 0)`). */
  @Column('decimal', { default: 0 })
  whole!: string;
}

/** Flushed with `onMissingRow: 'insert'`: one upsert per chunk. */
@Entity('ru_amount')
class Amount extends AmountColumns {}

/** The same columns, flushed by the plain keyed UPDATE (no row is ever created). */
@Entity('ru_amount_plain')
class PlainAmount extends AmountColumns {}

/** A counter and an unsigned counter (the test moves the table to MyISAM on MariaDB). */
@Entity('ru_likes')
class Likes {
  @PrimaryColumn('int')
  id!: number;

  @Column('int', { default: 0 })
  hits!: number;

  @Column('int', { default: 0, unsigned: true })
  likes!: number;
}

type Feature = typeof ClampedStock | typeof Amount | typeof Likes;

/** Statements making `ru_stock` clamp a negative stock to 0 (SQLite: ignore an insert of one). */
function clampTrigger(kind: DatabaseKind): string[] {
  if (kind === 'postgres') {
    return [
      `CREATE OR REPLACE FUNCTION ru_clamp() RETURNS trigger AS $$
       BEGIN NEW.stock := GREATEST(NEW.stock, 0); RETURN NEW; END $$ LANGUAGE plpgsql`,
      'CREATE TRIGGER ru_clamp BEFORE INSERT OR UPDATE ON ru_stock FOR EACH ROW EXECUTE FUNCTION ru_clamp()',
    ];
  }
  if (kind === 'mariadb') {
    return [
      'CREATE TRIGGER ru_clamp_i BEFORE INSERT ON ru_stock FOR EACH ROW SET NEW.stock = GREATEST(NEW.stock, 0)',
      'CREATE TRIGGER ru_clamp_u BEFORE UPDATE ON ru_stock FOR EACH ROW SET NEW.stock = GREATEST(NEW.stock, 0)',
    ];
  }
  return [
    'CREATE TRIGGER ru_clamp BEFORE INSERT ON ru_stock WHEN NEW.stock < 0 BEGIN SELECT RAISE(IGNORE); END',
  ];
}

const kinds = await databaseKinds();
afterAll(closeTestClients);

describe.each(kinds)('hostile review of one upsert per chunk on %s', (kind) => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  async function app(entities: Feature[]) {
    return (t = await upsertApp(
      kind,
      entities.map((entity) => ({ entity })),
      [ClampedStock, Amount, PlainAmount, Likes],
    ));
  }

  // The upsert proposes (default + delta) for an existing row too: a BEFORE INSERT
  // trigger rewrites (or drops) that proposed row, and what it adds is not the delta.
  it('a decrement of an existing row is applied although a BEFORE INSERT trigger clamps new rows', async () => {
    const t = await app([ClampedStock]);
    for (const sql of clampTrigger(kind)) await t.dataSource.query(sql);
    await t.dataSource.getRepository(ClampedStock).insert({ id: 1, stock: 10 });
    await t.buffer.increment(ClampedStock, 1, 'stock', -3);
    await t.buffer.increment(ClampedStock, 2, 'stock', 4);
    expect(await t.buffer.get(ClampedStock, 1, 'stock')).toBe(7);
    expect(await t.buffer.flush()).toMatchObject({ incremented: 2, deadLettered: 0 });
    const rows = await t.dataSource.getRepository(ClampedStock).find({ order: { id: 'ASC' } });
    expect(rows).toEqual([
      { id: 1, stock: 7 },
      { id: 2, stock: 4 },
    ]);
    expect(await t.buffer.get(ClampedStock, 1, 'stock')).toBe(7);
  });
  // The trigger check read the table's own triggers: one of a partition was not seen.
  it('PostgreSQL: a decrement of an existing row is applied although a partition clamps new rows', async () => {
    if (kind !== 'postgres') return;
    const t = await app([ClampedStock]);
    for (const sql of [
      'DROP TABLE ru_stock',
      'CREATE TABLE ru_stock (id int PRIMARY KEY, stock int NOT NULL DEFAULT 0) PARTITION BY RANGE (id)',
      'CREATE TABLE ru_stock_low PARTITION OF ru_stock FOR VALUES FROM (0) TO (100) PARTITION BY RANGE (id)',
      'CREATE TABLE ru_stock_low_1 PARTITION OF ru_stock_low FOR VALUES FROM (0) TO (100)',
      clampTrigger(kind)[0],
      'CREATE TRIGGER ru_clamp BEFORE INSERT ON ru_stock_low_1 FOR EACH ROW EXECUTE FUNCTION ru_clamp()',
    ]) {
      await t.dataSource.query(sql);
    }
    await t.dataSource.getRepository(ClampedStock).insert({ id: 1, stock: 10 });
    await t.buffer.increment(ClampedStock, 1, 'stock', -3);
    await t.buffer.increment(ClampedStock, 2, 'stock', 4);
    expect(await t.buffer.flush()).toMatchObject({ incremented: 2, deadLettered: 0 });
    const rows = await t.dataSource.getRepository(ClampedStock).find({ order: { id: 'ASC' } });
    expect(rows).toEqual([
      { id: 1, stock: 7 },
      { id: 2, stock: 4 },
    ]);
  });

  /**
   * Applies `deltas` to row 1 (existing, with `start`) of both twins and
   * returns each twin's stored values: the upsert first (`Amount`) and the
   * plain keyed UPDATE (`PlainAmount`).
   */
  async function bothTwins(
    start: { amount: string; ratio: number; whole?: string },
    deltas: { amount?: number; ratio?: number; whole?: number },
  ) {
    const t = await app([Amount]);
    const values = [];
    for (const entity of [Amount, PlainAmount]) {
      await t.dataSource.getRepository(entity).insert({ id: 1, ...start });
      for (const [column, by] of Object.entries(deltas)) {
        await t.buffer.increment(entity, 1, column as 'amount', by);
      }
    }
    // Row 2 of the upsert twin is new: the chunk creates one row and adds to the other.
    await t.buffer.increment(Amount, 2, 'amount', 1);
    expect(await t.buffer.flush()).toMatchObject({ deadLettered: 0 });
    for (const entity of [Amount, PlainAmount]) {
      const row = await t.dataSource.getRepository(entity).findOneByOrFail({ id: 1 });
      values.push({ amount: Number(row.amount), ratio: row.ratio, whole: Number(row.whole) });
    }
    return values;
  }

  // The upsert adds the delta as the column stores it (rounded to the scale, half away
  // from zero), the UPDATE adds the delta and the column rounds the sum: -0.015 takes
  // 1.00 to 0.98 one way and 0.99 the other (MariaDB: the double -0.015 rounds the
  // other way round).
  it('a decimal delta finer than the scale ends an existing row where the plain UPDATE would', async () => {
    const [upserted, updated] = await bothTwins({ amount: '1.00', ratio: 0 }, { amount: -0.015 });
    expect(upserted.amount).toBe(updated.amount);
  });

  // MariaDB's FLOAT is single precision: VALUES(ratio) rounds the delta before the
  // addition, where a double-rounding would show (held: both end at 1).
  it('a float delta ends an existing row where the plain UPDATE would', async () => {
    const [upserted, updated] = await bothTwins(
      { amount: '0', ratio: 1 },
      { ratio: 2 ** -24 + 2 ** -50 },
    );
    expect(upserted.ratio).toBe(updated.ratio);
  });
  // MariaDB: a decimal column declared without a scale keeps whole numbers, so it
  // rounds too (1 - 0.5 is 1 by the UPDATE, 1 + round(-0.5) is 0 by the upsert).
  it('a fractional delta of a decimal column without a scale ends an existing row where the plain UPDATE would', async () => {
    const [upserted, updated] = await bothTwins(
      { amount: '0', ratio: 0, whole: '1' },
      { whole: -0.5 },
    );
    expect(upserted.whole).toBe(updated.whole);
  });
  // MyISAM has no transactions: in MariaDB's default STRICT_TRANS_TABLES a later row's -3
  // is stored as 0 with a warning, not refused, and the upsert adds 0 to the existing row
  // (with STRICT_ALL_TABLES the refused upsert's first rows stay, and the fallback adds them again).
  it('MariaDB: a non-transactional (MyISAM) table takes each delta once', async () => {
    if (kind !== 'mariadb') return;
    const t = await app([Likes]);
    await t.dataSource.query('ALTER TABLE ru_likes ENGINE = MyISAM');
    await t.dataSource.getRepository(Likes).insert([
      { id: 1, hits: 0, likes: 0 },
      { id: 2, hits: 0, likes: 10 },
    ]);
    await t.buffer.increment(Likes, 1, 'hits', 5);
    await t.buffer.increment(Likes, 2, 'likes', -3);
    await t.buffer.flush();
    expect(await t.dataSource.getRepository(Likes).find({ order: { id: 'ASC' } })).toEqual([
      { id: 1, hits: 5, likes: 0 },
      { id: 2, hits: 0, likes: 7 },
    ]);
  });
});
