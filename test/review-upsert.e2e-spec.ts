import 'reflect-metadata';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import {
  Check,
  Column,
  Entity,
  EventSubscriber,
  Generated,
  PrimaryColumn,
  PrimaryGeneratedColumn,
  VersionColumn,
  type EntitySubscriberInterface,
  type TransactionStartEvent,
} from 'typeorm';
import { createTestDatabase, databaseKinds } from './support/databases.js';
import { Computed, dayRowSchema, ENTITIES, NullableCounter } from './support/entities.js';
import { holdAt, QueryGate } from './support/query-gate.js';
import {
  closeTestClients,
  storageKinds,
  storageOptions,
  type StorageKind,
} from './support/storages.js';
import { createTestApp, type TestApp } from './support/test-app.js';
import { featureModule, upsertApp } from './support/feature-module.js';
import type { WriteBufferEntityOptions } from '../lib/index.js';

/** An aggregate with an optimistic-lock version column (no database default). */
@Entity('rv_versioned')
class Versioned {
  @PrimaryColumn('int')
  id!: number;

  @Column('int', { default: 0 })
  hits!: number;

  @VersionColumn()
  version!: number;
}

/** An aggregate with another unique index, whose column has a default. */
@Entity('rv_slugged')
class Slugged {
  @PrimaryColumn('int')
  id!: number;

  @Column('int', { default: 0 })
  hits!: number;

  @Column('varchar', { length: 20, default: 'none', unique: true })
  slug!: string;
}

/** A created row that breaks a CHECK: bisection sets it aside. */
@Entity('rv_checked')
@Check('rv_checked_cap', '"hits" <= 100')
class Checked {
  @PrimaryColumn('int')
  id!: number;

  @Column('int', { default: 0 })
  hits!: number;
}

/** Counters of several types, each with a non-zero default. */
@Entity('rv_typed')
class Typed {
  @PrimaryColumn('int')
  id!: number;

  @Column('float', { default: 0.1 })
  ratio!: number;

  @Column('bigint', { default: 5 })
  big!: string;

  @Column('int', { default: -3 })
  neg!: number;
}

/** An aggregate with a generated (non-key) uuid column. */
@Entity('rv_tokened')
class Tokened {
  @PrimaryColumn('int')
  id!: number;

  @Column('int', { default: 0 })
  hits!: number;

  @Column()
  @Generated('uuid')
  token!: string;
}

/** A PostgreSQL identity key the database alone may set. */
@Entity('rv_identity')
class Identity {
  @PrimaryGeneratedColumn('identity', { generatedIdentity: 'ALWAYS' })
  id!: number;

  @Column('int', { default: 0 })
  hits!: number;
}

/** A counter whose default is an SQL expression. */
@Entity('rv_expr')
class ExprDefault {
  @PrimaryColumn('int')
  id!: number;

  @Column('int', { default: () => '(1 + 1)' })
  score!: number;

  @Column('varchar', { length: 10, nullable: true })
  note!: string | null;
}

/** A stock that never goes below zero, and an unsigned counter. */
@Entity('rv_stock')
@Check('rv_stock_floor', '"stock" >= 0')
class Stock {
  @PrimaryColumn('int')
  id!: number;

  @Column('int', { default: 0 })
  stock!: number;

  @Column('int', { default: 0, unsigned: true })
  likes!: number;
}

/**
 * Counts `column` of missing row 5, holds the flush that creates it, inserts
 * row 5 with `hits: 10` meanwhile (the database will refuse that insert:
 * the row exists by then) and checks get() of `hits` then and at the end
 * against the database.
 */
async function insertDuringFlush(
  t: TestApp,
  column: 'hits' | 'maybe',
  deltas: number[] = [3],
): Promise<void> {
  for (const delta of deltas) await t.buffer.increment(NullableCounter, 5, column, delta);
  const gate = holdAt('query', /^INSERT (IGNORE )?INTO \S*write_buffer_ledger/i);
  const flushing = t.buffer.flush();
  await gate.reached;
  await t.buffer.insert(NullableCounter, { id: 5, hits: 10 });
  const during = await t.buffer.get(NullableCounter, 5, 'hits');
  gate.release();
  await flushing;
  await t.buffer.flush();
  const row = await t.dataSource.getRepository(NullableCounter).findOneByOrFail({ id: 5 });
  expect(await t.buffer.get(NullableCounter, 5, 'hits')).toBe(row.hits);
  expect(during).toBe(row.hits);
}

const kinds = await databaseKinds();
afterAll(closeTestClients);

describe.each(kinds)("review of onMissingRow 'insert' on %s", (kind) => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  async function app(entities: Array<WriteBufferEntityOptions['entity']>) {
    return (t = await upsertApp(
      kind,
      entities.map((entity) => ({ entity })),
    ));
  }

  // A version column has no database default: every created row was a dead letter.
  it('refuses at start-up an entity with a @VersionColumn, naming it', async () => {
    await expect(app([Versioned])).rejects.toThrow(
      "cannot create rows of entity Versioned: 'version' is NOT NULL without a default",
    );
  });

  // MariaDB: ON DUPLICATE KEY UPDATE matches any unique index, so the delta landed on row 1.
  it('never adds a created row to another row that shares a unique column', async () => {
    if (kind === 'mariadb') {
      await expect(app([Slugged])).rejects.toThrow(
        "ON DUPLICATE KEY UPDATE would add to (or overwrite) the row its unique index on 'slug' matches",
      );
      return;
    }
    const t = await app([Slugged]);
    await t.dataSource.getRepository(Slugged).insert({ id: 1, hits: 0 }); // slug 'none'
    await t.buffer.increment(Slugged, 2, 'hits', 7);
    // The created row breaks the unique index: one dead letter.
    expect((await t.buffer.flush()).deadLettered).toBe(1);
    // Row 1 is not the row the write named: it keeps its value.
    expect(await t.dataSource.getRepository(Slugged).findOneByOrFail({ id: 1 })).toMatchObject({
      hits: 0,
    });
  });

  // Every counter flush: a row without a delta for a column binds NULL there, leaving the column as it is.
  it('leaves a NULL counter of an existing row alone when another row counts that column', async () => {
    const t = await app([NullableCounter]);
    await t.dataSource.getRepository(NullableCounter).insert({ id: 1, maybe: null, hits: 0 });
    await t.buffer.increment(NullableCounter, 1, 'hits', 1);
    await t.buffer.increment(NullableCounter, 2, 'maybe', 1);
    await t.buffer.flush();
    const one = await t.dataSource.getRepository(NullableCounter).findOneByOrFail({ id: 1 });
    expect(one).toMatchObject({ hits: 1, maybe: null });
    expect(
      await t.dataSource.getRepository(NullableCounter).findOneByOrFail({ id: 2 }),
    ).toMatchObject({ hits: 0, maybe: 1 });
  });

  it('get() of created rows of float, bigint and negative-default counters matches the database', async () => {
    const t = await app([Typed]);
    await t.dataSource.getRepository(Typed).insert({ id: 1 });
    for (const id of [1, 2]) {
      await t.buffer.increment(Typed, id, 'ratio', 0.2);
      await t.buffer.increment(Typed, id, 'big', 10);
      await t.buffer.increment(Typed, id, 'neg', 1);
    }
    await t.buffer.increment(Typed, 3, 'neg', 4); // only one column: the others start at defaults
    const before: number[] = [];
    for (const id of [1, 2, 3])
      for (const c of ['ratio', 'big', 'neg'] as const)
        before.push(await t.buffer.get(Typed, id, c));
    expect((await t.buffer.flush()).deadLettered).toBe(0);
    const after: number[] = [];
    const db: number[] = [];
    for (const id of [1, 2, 3]) {
      const row = await t.dataSource.getRepository(Typed).findOneByOrFail({ id });
      for (const c of ['ratio', 'big', 'neg'] as const) {
        after.push(await t.buffer.get(Typed, id, c));
        db.push(Number(row[c]));
      }
    }
    expect(before.map((n) => +n.toFixed(5))).toEqual(db.map((n) => +n.toFixed(5)));
    expect(after).toEqual(db);
    expect(db.slice(6)).toEqual([0.1, 5, 1]);
  });

  // An upsert adds (default + delta) - default to an existing row: 0.1 + 1e-17 - 0.1 is not 1e-17.
  it('adds a tiny delta to an existing float counter with a non-zero default exactly', async () => {
    const t = await app([Typed]);
    await t.dataSource.getRepository(Typed).insert({ id: 1, ratio: 0 });
    await t.buffer.increment(Typed, 1, 'ratio', 1e-17);
    await t.buffer.increment(Typed, 2, 'neg', 1);
    expect((await t.buffer.flush()).deadLettered).toBe(0);
    const row = await t.dataSource.getRepository(Typed).findOneByOrFail({ id: 1 });
    expect(row.ratio).toBeCloseTo(1e-17, 20);
  });

  it('insert() then increment of the same missing row: one row, get() exact', async () => {
    const t = await app([NullableCounter]);
    await t.buffer.insert(NullableCounter, { id: 5, hits: 10 });
    await t.buffer.increment(NullableCounter, 5, 'hits', 3);
    await t.buffer.increment(NullableCounter, 5, 'maybe', 2);
    expect(await t.buffer.get(NullableCounter, 5, 'hits')).toBe(13);
    expect(await t.buffer.get(NullableCounter, 5, 'maybe')).toBe(2);
    const report = await t.buffer.flush();
    expect(report).toMatchObject({ inserted: 1, deadLettered: 0 });
    expect(
      await t.dataSource.getRepository(NullableCounter).findOneByOrFail({ id: 5 }),
    ).toMatchObject({ hits: 13, maybe: 2 });
    expect(await t.buffer.get(NullableCounter, 5, 'hits')).toBe(13);
  });

  it('bisects a failing upsert chunk: the bad created row is one dead letter, retried once', async () => {
    const t = await app([Checked]);
    await t.dataSource.getRepository(Checked).insert({ id: 1, hits: 1 });
    await t.buffer.increment(Checked, 1, 'hits', 5);
    await t.buffer.increment(Checked, 2, 'hits', 500);
    await t.buffer.increment(Checked, 3, 'hits', 7);
    const report = await t.buffer.flush();
    expect(report.deadLettered).toBe(1);
    const rows = await t.dataSource.getRepository(Checked).find({ order: { id: 'ASC' } });
    expect(rows).toEqual([
      { id: 1, hits: 6 },
      { id: 3, hits: 7 },
    ]);
    const letters = await t.buffer.deadLetters();
    expect(letters).toHaveLength(1);
    // Lift the cap, retry: applied exactly once.
    await t.dataSource.query(
      kind === 'mariadb'
        ? 'ALTER TABLE rv_checked DROP CONSTRAINT rv_checked_cap'
        : kind === 'postgres'
          ? 'ALTER TABLE rv_checked DROP CONSTRAINT rv_checked_cap'
          : 'SELECT 1',
    );
    if (kind === 'sqlite') return; // SQLite cannot drop a CHECK
    expect(await t.buffer.retryDeadLetters()).toBe(1);
    await t.buffer.flush();
    await t.buffer.flush();
    expect(await t.dataSource.getRepository(Checked).findOneByOrFail({ id: 2 })).toMatchObject({
      hits: 500,
    });
    expect(await t.buffer.deadLetters()).toEqual([]);
  });

  it('creates a row keyed by a date, an instant and a number that TypeORM then finds', async () => {
    const t = await app([dayRowSchema(kind) as never]);
    const at = new Date('2024-03-05T10:00:00.123Z');
    await t.buffer.increment('DayRow', { day: '2024-03-05', at, slot: 7 }, 'hits', 2);
    await t.buffer.flush();
    await t.buffer.increment(
      'DayRow',
      { day: new Date(2024, 2, 5, 15, 30), at: '2024-03-05 12:00:00.123+02:00', slot: '7' },
      'hits',
      3,
    );
    expect(await t.buffer.get('DayRow', { day: '2024-03-05', at, slot: 7 }, 'hits')).toBe(5);
    await t.buffer.flush();
    const rows = await t.dataSource.getRepository('DayRow').find();
    expect(rows).toHaveLength(1);
    const found = await t.dataSource
      .getRepository('DayRow')
      .findOneBy({ day: '2024-03-05', at, slot: 7 });
    expect(found).toMatchObject({ hits: 5 });
    // The app now counts through TypeORM on the same row: one row still.
    await t.dataSource
      .getRepository('DayRow')
      .increment({ day: '2024-03-05', at, slot: 7 }, 'hits', 1);
    expect(await t.buffer.get('DayRow', { day: '2024-03-05', at, slot: 7 }, 'hits')).toBe(6);
  });

  // TypeORM makes the uuid in JS on SQLite and MariaDB: no database default, created rows were dead letters.
  it('creates a row of an entity with a generated uuid column where the database makes it, refuses it elsewhere', async () => {
    if (kind !== 'postgres') {
      await expect(app([Tokened])).rejects.toThrow(
        "cannot create rows of entity Tokened: 'token' is NOT NULL without a default",
      );
      return;
    }
    const t = await app([Tokened]);
    await t.buffer.increment(Tokened, 1, 'hits', 2);
    expect((await t.buffer.flush()).deadLettered).toBe(0);
    expect(await t.dataSource.getRepository(Tokened).findOneBy({ id: 1 })).toMatchObject({
      hits: 2,
    });
  });

  // The start-up check called a computed column NOT NULL without a default.
  it('accepts an entity with a stored computed column', async () => {
    const t = await app([Computed]);
    await t.buffer.increment(Computed, 1, 'hits', 2);
    expect((await t.buffer.flush()).deadLettered).toBe(0);
    expect(await t.dataSource.getRepository(Computed).findOneBy({ id: 1 })).toMatchObject({
      hits: 2,
      double: 4,
    });
  });

  // MariaDB: ON DUPLICATE KEY UPDATE set row 1's hits to 9 and the write for row 2 was gone.
  it('an update of a missing row is not applied to another row sharing a unique value', async () => {
    if (kind === 'mariadb') {
      await expect(app([Slugged])).rejects.toThrow(/unique index on 'slug'/);
      return;
    }
    const t = await app([Slugged]);
    await t.dataSource.getRepository(Slugged).insert({ id: 1, hits: 3, slug: 'x' });
    await t.buffer.update(Slugged, 2, { slug: 'x', hits: 9 });
    const report = await t.buffer.flush();
    const one = await t.dataSource.getRepository(Slugged).findOneByOrFail({ id: 1 });
    expect(one).toMatchObject({ hits: 3, slug: 'x' });
    // Refused by the unique index: set aside as a dead letter, not silently gone.
    expect(report.deadLettered).toBe(1);
  });

  // INSERT of an explicit id into GENERATED ALWAYS failed even for existing rows: every write was a dead letter.
  it('refuses at start-up a key the database alone may set (GENERATED ALWAYS AS IDENTITY)', async () => {
    if (kind !== 'postgres') return;
    await expect(app([Identity])).rejects.toThrow(
      "cannot create rows of entity Identity: its key 'id' is GENERATED ALWAYS AS IDENTITY, so the database refuses the key an upsert inserts. Give it generatedIdentity 'BY DEFAULT', or use 'dead-letter' or 'drop'.",
    );
  });

  // get() took a non-numeric default as 0; a row an update created got the database's 2.
  it('refuses at start-up a numeric column whose default is an SQL expression, naming it', async () => {
    await expect(app([ExprDefault])).rejects.toThrow(
      "cannot create rows of entity ExprDefault: the default of its numeric column 'score' ((1 + 1)) is an SQL expression, " +
        'so get() cannot tell what a row a flush creates starts at. Give it a number as default (default: 0)',
    );
  });

  // The database checks the row the upsert proposes (default + delta = -3) before it sees the
  // conflict: the write to an existing row is dead-lettered; the plain UPDATE path applies it.
  it('decrements an existing row of a CHECK (stock >= 0) column', async () => {
    const t = await app([Stock]);
    await t.dataSource.getRepository(Stock).insert({ id: 1, stock: 10, likes: 0 });
    await t.buffer.increment(Stock, 1, 'stock', -3);
    expect(await t.buffer.get(Stock, 1, 'stock')).toBe(7);
    const report = await t.buffer.flush();
    expect(report.deadLettered).toBe(0);
    expect(await t.dataSource.getRepository(Stock).findOneByOrFail({ id: 1 })).toMatchObject({
      stock: 7,
    });
  });

  // MariaDB refuses the proposed -1 of an UNSIGNED column (out of range) before the duplicate key.
  it('decrements an existing row of an unsigned column (unlike)', async () => {
    const t = await app([Stock]);
    await t.dataSource.getRepository(Stock).insert({ id: 1, stock: 0, likes: 5 });
    await t.buffer.increment(Stock, 1, 'likes', -1);
    const report = await t.buffer.flush();
    expect(report.deadLettered).toBe(0);
    expect(await t.dataSource.getRepository(Stock).findOneByOrFail({ id: 1 })).toMatchObject({
      likes: 4,
    });
  });

  it('increment then insert() of the same missing row in one flush: get() exact', async () => {
    const t = await app([NullableCounter]);
    await t.buffer.increment(NullableCounter, 5, 'hits', 3);
    await t.buffer.insert(NullableCounter, { id: 5, hits: 10 });
    const before = await t.buffer.get(NullableCounter, 5, 'hits');
    await t.buffer.flush();
    const row = await t.dataSource.getRepository(NullableCounter).findOneByOrFail({ id: 5 });
    expect(before).toBe(row.hits);
    expect(await t.buffer.get(NullableCounter, 5, 'hits')).toBe(row.hits);
  });

  // get() read only the column's layers: an upsert of another column of the row in flight was not seen.
  it('insert() of a row a flush in flight creates through another column: get() matches the database', async () => {
    await insertDuringFlush(await app([NullableCounter]), 'maybe');
  });
});

const storages = await storageKinds();
describe.each(storages.map((storage) => [kinds.at(-1)!, storage] as const))(
  "review of onMissingRow 'insert' on %s with %s storage",
  (kind, storage: StorageKind) => {
    let app: TestApp | undefined;
    afterEach(async () => {
      await app?.close();
      app = undefined;
    });

    // get() took the insert as creating the row the flush in flight creates first (it said 10, the
    // database ends with 3); through another column, get() did not see the in-flight write at all.
    // A net delta of 0 creates the row as well: memory and lmdb gave get() no layer for it.
    it.each([
      ['hits', [3]],
      ['maybe', [3]],
      ['maybe', [3, -3]],
    ] as const)(
      'insert() of a row a flush in flight is creating through %s (deltas %j): get() matches what the database ends with',
      async (column, deltas) => {
        const t = (app = await createTestApp(
          kind,
          { storage: storageOptions(storage) },
          {
            entities: [...ENTITIES, NullableCounter],
            imports: [featureModule([{ entity: NullableCounter, onMissingRow: 'insert' }])],
          },
        ));
        await insertDuringFlush(t, column, [...deltas]);
      },
    );
  },
);

/** Takes every transaction of the data source out of strict mode (MariaDB). */
@EventSubscriber()
class NonStrictSession implements EntitySubscriberInterface {
  async beforeTransactionStart(event: TransactionStartEvent) {
    await event.queryRunner.query(`SET SESSION sql_mode = ''`);
  }
}

describe.each(kinds)('an upsert flush that the database refuses, on %s', (kind) => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    // The database is made here, so the app leaves it: it goes too.
    await t?.database.drop();
    t = undefined;
  });

  const app = async (nonStrict = false) => {
    const database = await createTestDatabase(kind);
    return (t = await createTestApp(
      kind,
      {},
      {
        entities: [...ENTITIES, Stock, NullableCounter],
        imports: [
          featureModule([
            { entity: Stock, onMissingRow: 'insert' },
            { entity: NullableCounter, onMissingRow: 'insert' },
          ]),
        ],
        database: nonStrict
          ? {
              ...database,
              options: (extra) =>
                database.options({ ...extra, subscribers: [QueryGate, NonStrictSession] }),
            }
          : database,
      },
    ));
  };
  const stock = async (t: TestApp) =>
    (await t.dataSource.getRepository(Stock).find({ order: { id: 'ASC' } })).map((row) => ({
      ...row,
    }));

  it('runs one upsert for new and existing rows when nothing is refused', async () => {
    const t = await app();
    await t.dataSource.getRepository(Stock).insert({ id: 1, stock: 10, likes: 5 });
    await t.buffer.increment(Stock, 1, 'stock', 2);
    await t.buffer.increment(Stock, 2, 'stock', 4);
    const report = await t.buffer.flush();
    expect(report).toMatchObject({ incremented: 2, statements: 1, deadLettered: 0 });
    expect(await stock(t)).toEqual([
      { id: 1, stock: 12, likes: 5 },
      { id: 2, stock: 4, likes: 0 },
    ]);
  });

  it('applies a chunk whose upsert breaks a CHECK (or an unsigned column) of an existing row through the UPDATE', async () => {
    const t = await app();
    await t.dataSource.getRepository(Stock).insert({ id: 1, stock: 10, likes: 5 });
    await t.buffer.increment(Stock, 1, 'stock', -3);
    await t.buffer.increment(Stock, 1, 'likes', -1);
    await t.buffer.increment(Stock, 2, 'stock', 4);
    await t.buffer.increment(Stock, 3, 'likes', 2);
    const report = await t.buffer.flush();
    // The refused upsert, then the UPDATE and the upsert of the rows it missed.
    expect(report).toMatchObject({ incremented: 3, statements: 3, deadLettered: 0, missing: [] });
    expect(await stock(t)).toEqual([
      { id: 1, stock: 7, likes: 4 },
      { id: 2, stock: 4, likes: 0 },
      { id: 3, stock: 0, likes: 2 },
    ]);
    expect(await t.buffer.get(Stock, 1, 'stock')).toBe(7);
    expect(await t.buffer.deadLetters()).toEqual([]);
  });

  it('bisects a chunk the UPDATE and upsert refuse too: only the bad created row is a dead letter', async () => {
    const t = await app();
    await t.dataSource.getRepository(Stock).insert({ id: 1, stock: 10, likes: 5 });
    await t.buffer.increment(Stock, 1, 'stock', -3);
    await t.buffer.increment(Stock, 2, 'stock', 4);
    await t.buffer.increment(Stock, 4, 'stock', -1); // a created row at -1 breaks the CHECK
    const report = await t.buffer.flush();
    expect(report.deadLettered).toBe(1);
    expect(await stock(t)).toEqual([
      { id: 1, stock: 7, likes: 5 },
      { id: 2, stock: 4, likes: 0 },
    ]);
    const letters = await t.buffer.deadLetters();
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ kind: 'counter', key: { id: 4 } });
  });

  it('leaves a NULL counter alone where a row counts another column, and adds to it where it counts it', async () => {
    const t = await app();
    const rows = t.dataSource.getRepository(NullableCounter);
    await rows.insert([
      { id: 1, maybe: null, hits: 0 },
      { id: 2, maybe: null, hits: 0 },
    ]);
    await t.buffer.increment(NullableCounter, 1, 'hits', 1);
    await t.buffer.increment(NullableCounter, 2, 'maybe', 2);
    await t.buffer.increment(NullableCounter, 3, 'hits', 1);
    await t.buffer.increment(NullableCounter, 4, 'maybe', 1);
    const expected = [
      { id: 1, maybe: null, hits: 1 },
      { id: 2, maybe: 2, hits: 0 },
      // Created: the column it does not count keeps its default.
      { id: 3, maybe: null, hits: 1 },
      { id: 4, maybe: 1, hits: 0 },
    ];
    const before = [];
    for (const { id } of expected) {
      before.push({ id, hits: await t.buffer.get(NullableCounter, id, 'hits') });
    }
    expect(await t.buffer.flush()).toMatchObject({ deadLettered: 0 });
    expect(await rows.find({ order: { id: 'ASC' } })).toEqual(expected);
    expect(before).toEqual(expected.map(({ id, hits }) => ({ id, hits })));
  });

  // SQLite's lock wait replayed no transaction holding a savepoint: the flush failed instead of waiting.
  it('SQLite: a chunk applied after a refused upsert commits once a reader lets go', async () => {
    if (kind !== 'sqlite') return;
    const t = await app();
    await t.dataSource.getRepository(Stock).insert({ id: 1, stock: 10, likes: 5 });
    await t.buffer.increment(Stock, 1, 'stock', -3);
    await t.buffer.increment(Stock, 2, 'stock', 4);
    // The app reads in a transaction: the flush's COMMIT waits (rollback journal), then replays.
    const reader = t.dataSource.createQueryRunner();
    await reader.connect();
    await reader.startTransaction();
    await reader.query('SELECT stock FROM rv_stock WHERE id = 1');
    const flushing = t.buffer.flush();
    await new Promise((resolve) => setTimeout(resolve, 200));
    await reader.commitTransaction();
    await reader.release();
    expect(await flushing).toMatchObject({ incremented: 2, deadLettered: 0 });
    expect(await stock(t)).toEqual([
      { id: 1, stock: 7, likes: 5 },
      { id: 2, stock: 4, likes: 0 },
    ]);
  });

  it('never upserts first in a session that clamps instead of refusing (MariaDB without strict mode)', async () => {
    if (kind !== 'mariadb') return;
    const t = await app(true);
    await t.dataSource.getRepository(Stock).insert({ id: 1, stock: 0, likes: 5 });
    await t.buffer.increment(Stock, 1, 'likes', -1);
    await t.buffer.increment(Stock, 2, 'likes', 1);
    const report = await t.buffer.flush();
    expect(report).toMatchObject({ deadLettered: 0, missing: [] });
    // An upsert would propose likes = -1, clamped to 0, and add that 0 to row 1's 5.
    expect(await stock(t)).toEqual([
      { id: 1, stock: 0, likes: 4 },
      { id: 2, stock: 0, likes: 1 },
    ]);
  });
});
