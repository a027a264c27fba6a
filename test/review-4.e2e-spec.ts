import 'reflect-metadata';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { Column, Entity, Generated, PrimaryColumn } from 'typeorm';
import { databaseKinds } from './support/databases.js';
import { Computed, ENTITIES, NullableCounter } from './support/entities.js';
import { holdAt } from './support/query-gate.js';
import {
  closeTestClients,
  storageKinds,
  storageOptions,
  type StorageKind,
} from './support/storages.js';
import { createTestApp, type TestApp } from './support/test-app.js';
import { featureModule, upsertApp } from './support/feature-module.js';
import type { WriteBufferEntityOptions } from '../lib/index.js';

/** A counter and a best score merged with max. */
@Entity('r4_scored')
class Scored {
  @PrimaryColumn('int')
  id!: number;

  @Column('int', { default: 0 })
  hits!: number;

  @Column('int', { nullable: true })
  best!: number | null;
}

/** A counter and a least value merged with min, whose default is 100. */
@Entity('r4_low')
class Low {
  @PrimaryColumn('int')
  id!: number;

  @Column('int', { default: 0 })
  hits!: number;

  @Column('int', { default: 100 })
  low!: number;
}

/** Defaults finer than their columns hold: the database rounds them. */
@Entity('r4_rounded')
class Rounded {
  @PrimaryColumn('int')
  id!: number;

  @Column('decimal', { precision: 6, scale: 1, default: 0.25 })
  amount!: string;
}

/** A counter and a last-seen instant merged with max, which the database stamps on a new row. */
@Entity('r4_seen')
class Seen {
  @PrimaryColumn('int')
  id!: number;

  @Column('int', { default: 0 })
  hits!: number;

  @Column({ type: Date, precision: 3, default: () => 'CURRENT_TIMESTAMP' })
  seenAt!: Date;
}

/** Numeric defaults written as SQL text that still stands for a number (or NULL). */
@Entity('r4_quoted')
class Quoted {
  @PrimaryColumn('int')
  id!: number;

  @Column('int', { default: () => "'7'" })
  hits!: number;

  @Column('int', { nullable: true, default: () => 'NULL' })
  maybe!: number | null;
}

/** A counter beside a column a sequence numbers (PostgreSQL serial). */
@Entity('r4_numbered')
class Numbered {
  @PrimaryColumn('int')
  id!: number;

  @Column('int', { default: 0 })
  hits!: number;

  @Column('int')
  @Generated('increment')
  seq!: number;
}

/** A numeric column whose default is text SQLite keeps as it is. */
@Entity('r4_texted')
class Texted {
  @PrimaryColumn('int')
  id!: number;

  @Column('int', { default: 'n/a' })
  hits!: number;
}

/** A counter whose default is a PostgreSQL cast, as a schema dump writes it. */
@Entity('r4_cast')
class Cast {
  @PrimaryColumn('int')
  id!: number;

  @Column('int', { default: () => "'7'::integer" })
  hits!: number;
}

/**
 * Counts `hits` of row 1 (whose `maybe` is NULL) and checks overlay() of the
 * loaded row against the row the flush leaves.
 */
async function overlayKeepsNull(t: TestApp): Promise<void> {
  const rows = t.dataSource.getRepository(NullableCounter);
  await rows.insert({ id: 1, maybe: null, hits: 0 });
  await t.buffer.increment(NullableCounter, 1, 'hits', 2);
  const [shown] = await t.buffer.overlay(NullableCounter, await rows.findBy({ id: 1 }));
  await t.buffer.flush();
  const row = await rows.findOneByOrFail({ id: 1 });
  expect(row).toEqual({ id: 1, maybe: null, hits: 2 });
  expect({ ...shown }).toEqual({ ...row });
}

/**
 * Makes row 5 through `write`, holds the flush that creates it, inserts row
 * 5 with `best: 100` meanwhile (the database will refuse that insert) and
 * checks get() of `best` then and at the end against the database.
 */
async function mergedDuringFlush(t: TestApp, write: (t: TestApp) => Promise<void>): Promise<void> {
  await write(t);
  const gate = holdAt('query', /^INSERT (IGNORE )?INTO \S*write_buffer_ledger/i);
  const flushing = t.buffer.flush();
  await gate.reached;
  await t.buffer.insert(Scored, { id: 5, hits: 10, best: 100 });
  const during = await t.buffer.get(Scored, 5, 'best');
  gate.release();
  await flushing;
  await t.buffer.flush();
  const row = await t.dataSource.getRepository(Scored).findOneByOrFail({ id: 5 });
  expect(await t.buffer.get(Scored, 5, 'best')).toBe(row.best);
  expect(during).toBe(row.best);
}

/**
 * Adds 1 to `hits` of row `id` (its default 7) and checks get() before the
 * flush and the row after it.
 */
async function countsFromDefault(t: TestApp, entity: typeof Quoted | typeof Cast, id: number) {
  await t.buffer.increment(entity, id, 'hits', 1);
  const before = await t.buffer.get(entity, id, 'hits');
  await t.buffer.flush();
  const row = await t.dataSource.getRepository(entity).findOneByOrFail({ id });
  expect(row.hits).toBe(8);
  expect(before).toBe(row.hits);
}

/** Writes of row 5 that make a flush create it, for {@link mergedDuringFlush}. */
const MERGED_WRITES: Array<[string, (t: TestApp) => Promise<void>]> = [
  ['a counter of another column', (t) => t.buffer.increment(Scored, 5, 'hits', 3)],
  ['an update of the merged column', (t) => t.buffer.update(Scored, 5, { best: 50 })],
];

const kinds = await databaseKinds();
afterAll(closeTestClients);

describe.each(kinds)("review 4 of onMissingRow 'insert' on %s", (kind) => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  async function app(entities: WriteBufferEntityOptions[]) {
    return (t = await upsertApp(kind, entities));
  }

  // The empty layer get() adds for a write of another column of the row made overlay() fold the
  // loaded NULL into 0; the flush leaves the column NULL.
  it('overlay() keeps a loaded NULL column that only another column of the row is counted in', async () => {
    await overlayKeepsNull(await app([{ entity: NullableCounter }]));
  });

  // The created row's `maybe` was 0 when another row of the flush counted `maybe`, NULL otherwise.
  it('leaves NULL the nullable counter of a created row that counts another column only, whatever the other rows of the flush count', async () => {
    const t = await app([{ entity: NullableCounter }]);
    await t.buffer.increment(NullableCounter, 1, 'hits', 1);
    await t.buffer.increment(NullableCounter, 2, 'maybe', 2);
    expect((await t.buffer.flush()).deadLettered).toBe(0);
    await t.buffer.increment(NullableCounter, 3, 'hits', 1);
    expect((await t.buffer.flush()).deadLettered).toBe(0);
    const rows = await t.dataSource.getRepository(NullableCounter).find({ order: { id: 'ASC' } });
    expect(rows.map(({ id, maybe, hits }) => ({ id, maybe, hits }))).toEqual([
      { id: 1, maybe: null, hits: 1 },
      { id: 2, maybe: 2, hits: 0 },
      { id: 3, maybe: null, hits: 1 },
    ]);
    expect(await t.buffer.getMany(NullableCounter, [1, 2, 3])).toEqual([
      { maybe: 0, hits: 1 },
      { maybe: 2, hits: 0 },
      { maybe: 0, hits: 1 },
    ]);
  });

  // merged() read only its own column's layers and took the insert as creating the row: get()
  // said 100 while the flush in flight creates the row first and the insert is refused.
  it.each(MERGED_WRITES)(
    'get() of a max-merged column of a row a flush in flight creates through %s ignores a later insert()',
    async (_, write) => {
      await mergedDuringFlush(await app([{ entity: Scored, merge: { best: 'max' } }]), write);
    },
  );

  // merged() offered only written values: a row created without one read as null, not 100.
  it('get() of a min-merged column of rows an insert() leaving it out and a counter create is its default', async () => {
    const t = await app([{ entity: Low, merge: { low: 'min' } }]);
    await t.buffer.insert(Low, { id: 5, hits: 1 });
    await t.buffer.increment(Low, 6, 'hits', 1);
    const before = [await t.buffer.get(Low, 5, 'low'), await t.buffer.get(Low, 6, 'low')];
    await t.buffer.flush();
    const rows = await t.dataSource.getRepository(Low).find({ order: { id: 'ASC' } });
    expect(rows.map((row) => row.low)).toEqual([100, 100]);
    expect(before).toEqual([100, 100]);
  });

  // Not fixed: a row a counter creates gets the database's CURRENT_TIMESTAMP, which get() cannot
  // know: it reads null. The start-up check looks at numeric defaults only; refusing a merged
  // column with an SQL default (or reading the row back) is a design call.
  it.failing(
    'get() of a max-merged instant of a row a counter creates matches the database',
    async () => {
      const t = await app([{ entity: Seen, merge: { seenAt: 'max' } }]);
      await t.buffer.increment(Seen, 1, 'hits', 1);
      const before = await t.buffer.get(Seen, 1, 'seenAt');
      await t.buffer.flush();
      const row = await t.dataSource.getRepository(Seen).findOneByOrFail({ id: 1 });
      expect(row.seenAt).toBeInstanceOf(Date);
      expect(before).toEqual(row.seenAt);
    },
  );

  // numericDefault() took "'7'" and NULL for expressions only the database knows: refused at start.
  it("accepts numeric defaults written () => \"'7'\" and () => 'NULL', and get() of a created row matches", async () => {
    const t = await app([{ entity: Quoted }]);
    await t.buffer.increment(Quoted, 1, 'maybe', 2);
    await t.buffer.increment(Quoted, 2, 'hits', 1);
    const before = [
      await t.buffer.get(Quoted, 1, 'hits'),
      await t.buffer.get(Quoted, 1, 'maybe'),
      await t.buffer.get(Quoted, 2, 'hits'),
      await t.buffer.get(Quoted, 2, 'maybe'),
    ];
    expect((await t.buffer.flush()).deadLettered).toBe(0);
    const rows = await t.dataSource.getRepository(Quoted).find({ order: { id: 'ASC' } });
    // NULL counts as 0.
    expect(rows.flatMap((row) => [row.hits, row.maybe ?? 0])).toEqual([7, 2, 8, 0]);
    expect(before).toEqual([7, 2, 8, 0]);
  });

  // Any entity: get() took the column an insert() leaves out at 0, the database at its default 7.
  it('get() of a row insert() leaves a counter out of, whose default is () => "\'7\'", matches the database', async () => {
    const plain = (t = await createTestApp(kind, {}, { entities: [...ENTITIES, Quoted] }));
    await plain.buffer.insert(Quoted, { id: 3 });
    await countsFromDefault(plain, Quoted, 3);
  });

  it('PostgreSQL: accepts a numeric default written () => "\'7\'::integer", and get() of a created row matches', async () => {
    if (kind !== 'postgres') return;
    await countsFromDefault(await app([{ entity: Cast }]), Cast, 1);
  });

  // MariaDB and PostgreSQL store 0.3: get() counted a created row's amount from 0.25.
  it('refuses at start-up a decimal column whose default is finer than its scale, naming it', async () => {
    await expect(app([{ entity: Rounded }])).rejects.toThrow(
      "the default of its numeric column 'amount' (0.25) is finer than the column holds, so the database rounds",
    );
  });

  // The message read the default by calling it: a text default threw "c.default is not a function".
  it('refuses at start-up a numeric column with a text default, naming it (SQLite keeps the text)', async () => {
    if (kind !== 'sqlite') return;
    await expect(app([{ entity: Texted }])).rejects.toThrow(
      "the default of its numeric column 'hits' (n/a) is an SQL expression",
    );
  });

  // A serial column's default is nextval(): get() counted a created row's as 0, the database gave 1.
  it('refuses at start-up a numeric column a sequence numbers (PostgreSQL serial)', async () => {
    if (kind !== 'postgres') return;
    await expect(app([{ entity: Numbered }])).rejects.toThrow(
      "the default of its numeric column 'seq' (generated) is an SQL expression",
    );
  });

  // get() and getMany() took a computed column for a counter, at its default (0) in a row a flush
  // creates; increment() and update() of it were accepted and failed at flush as dead letters.
  it('refuses to write or read a computed column, naming it, and getMany() leaves it out', async () => {
    const t = await app([{ entity: Computed }]);
    const refusal = "Column 'double' of entity Computed is computed by the database (asExpression)";
    await expect(t.buffer.increment(Computed, 1, 'double', 2)).rejects.toThrow(refusal);
    await expect(t.buffer.update(Computed, 1, { double: 4 })).rejects.toThrow(refusal);
    await expect(t.buffer.insert(Computed, { id: 1, double: 4 })).rejects.toThrow(refusal);
    await expect(t.buffer.get(Computed, 1, 'double')).rejects.toThrow(refusal);
    expect((await t.buffer.stats()).pending).toMatchObject({ counters: 0, updates: 0, inserts: 0 });
    await t.buffer.increment(Computed, 1, 'hits', 2);
    expect(await t.buffer.getMany(Computed, [1])).toEqual([{ hits: 2 }]);
    expect((await t.buffer.flush()).deadLettered).toBe(0);
    const row = await t.dataSource.getRepository(Computed).findOneByOrFail({ id: 1 });
    expect(row).toMatchObject({ hits: 2, double: 4 });
  });
});

const storages = await storageKinds();
describe.each(storages.map((storage) => [kinds.at(-1)!, storage] as const))(
  "review 4 of onMissingRow 'insert' on %s with %s storage",
  (kind, storage: StorageKind) => {
    let t: TestApp | undefined;
    afterEach(async () => {
      await t?.close();
      t = undefined;
    });

    const app = async (entity: WriteBufferEntityOptions) =>
      (t = await createTestApp(
        kind,
        { storage: storageOptions(storage) },
        {
          entities: [...ENTITIES, entity.entity as never],
          imports: [featureModule([{ onMissingRow: 'insert', ...entity }])],
        },
      ));

    it('overlay() keeps a loaded NULL column that only another column of the row is counted in', async () => {
      await overlayKeepsNull(await app({ entity: NullableCounter }));
    });

    it.each(MERGED_WRITES)(
      'get() of a max-merged column of a row a flush in flight creates through %s ignores a later insert()',
      async (_, write) => {
        await mergedDuringFlush(await app({ entity: Scored, merge: { best: 'max' } }), write);
      },
    );
  },
);
