import 'reflect-metadata';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { Column, Entity, PrimaryColumn } from 'typeorm';
import mysql from 'mysql2/promise';
import pg from 'pg';
import {
  createTestDatabase,
  databaseKinds,
  MARIADB_URL,
  type DatabaseKind,
} from './support/databases.js';
import { ENTITIES } from './support/entities.js';
import { featureModule } from './support/feature-module.js';
import {
  closeTestClients,
  storageKinds,
  storageOptions,
  type StorageKind,
} from './support/storages.js';
import { createTestApp, type TestApp } from './support/test-app.js';
import type { WriteBufferEntityOptions } from '../lib/index.js';

/** Money counted in cents: a decimal counter. */
@Entity('r6_wallet')
class Wallet {
  @PrimaryColumn('int')
  id!: number;

  @Column('decimal', { precision: 10, scale: 2, default: 0 })
  balance!: string;
}

/** A single-precision float counter (PostgreSQL `real`; MariaDB's `float` is single too). */
@Entity('r6_gauge')
class Gauge {
  @PrimaryColumn('int')
  id!: number;

  @Column('real', { default: 0 })
  level!: number;
}

/** A float counter (single precision on MariaDB, double on PostgreSQL and SQLite). */
@Entity('r6_ratio')
class Ratio {
  @PrimaryColumn('int')
  id!: number;

  @Column('float', { default: 0 })
  level!: number;
}

/** A bigint counter. */
@Entity('r6_tally')
class Tally {
  @PrimaryColumn('int')
  id!: number;

  @Column('bigint', { default: 0 })
  total!: string;
}

/** A composite key mixing text, bigint, date and boolean columns. */
@Entity('r6_mixed')
class Mixed {
  @PrimaryColumn('varchar', { length: 300 })
  name!: string;

  @PrimaryColumn('bigint')
  big!: string;

  @PrimaryColumn('date')
  day!: string;

  @PrimaryColumn('boolean')
  flag!: boolean;

  @Column('int', { default: 0 })
  hits!: number;
}

/** Rows keyed by free text. */
@Entity('r6_tagged')
class Tagged {
  @PrimaryColumn('varchar', { length: 200 })
  tag!: string;

  @Column('int', { default: 0 })
  hits!: number;
}

/** Visits counted per instant, keyed by a datetime of whole seconds (MariaDB `datetime`). */
@Entity('r6_visit')
class Visit {
  @PrimaryColumn({ type: Date })
  at!: Date;

  @Column('int', { default: 0 })
  hits!: number;
}

/** Tags keyed by a case-insensitive text (PostgreSQL `citext`). */
@Entity('r6_label')
class Label {
  @PrimaryColumn('citext')
  name!: string;

  @Column('int', { default: 0 })
  hits!: number;
}

const ENTITIES_6 = [Wallet, Gauge, Ratio, Tally, Mixed, Tagged, Visit];

const kinds = await databaseKinds();
const storages = await storageKinds();
afterAll(closeTestClients);

/** The test app on `kind` with `storage`, each entity registered with `forFeature` (upserts unless it says otherwise). */
async function app(
  kind: DatabaseKind,
  storage: StorageKind,
  features: WriteBufferEntityOptions[],
): Promise<TestApp> {
  return createTestApp(
    kind,
    { storage: storageOptions(storage) },
    {
      entities: [...ENTITIES, ...ENTITIES_6],
      imports: [featureModule(features.map((f) => ({ onMissingRow: 'insert', ...f })))],
    },
  );
}

/**
 * Counts `deltas` into `column` of existing row 1 (at `start`) and checks
 * get(), getMany() and overlay() before the flush against the row after it.
 */
async function readsMatchFlushed(
  t: TestApp,
  entity: 'Wallet' | 'Gauge' | 'Ratio' | 'Tally',
  column: string,
  start: string | number,
  deltas: number[],
): Promise<void> {
  const rows = t.dataSource.getRepository<Record<string, unknown>>(entity);
  await rows.insert({ id: 1, [column]: start });
  for (const delta of deltas) await t.buffer.increment(entity, 1, column, delta);
  const got = await t.buffer.get(entity, 1, column);
  const [many] = await t.buffer.getMany(entity, [1], [column]);
  const [shown] = await t.buffer.overlay(entity, await rows.findBy({ id: 1 }));
  expect(await t.buffer.flush()).toMatchObject({ deadLettered: 0 });
  const after = Number((await rows.findOneByOrFail({ id: 1 }))[column]);
  expect({ got, many: many[column], shown: Number(shown[column]) }).toEqual({
    got: after,
    many: after,
    shown: after,
  });
}

describe.each(kinds)('review 6: counter types on %s', (kind) => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  // get() added the deltas as floating point (0.1 + 0.2 = 0.30000000000000004) where the
  // database adds them exactly and rounds to the column's scale (SQLite keeps a REAL).
  it('get(), getMany() and overlay() of a decimal counter counted 0.10 then 0.20 read what the database ends with (0.30)', async () => {
    t = await app(kind, 'memory', [{ entity: Wallet }]);
    await readsMatchFlushed(t, 'Wallet', 'balance', '0.00', [0.1, 0.2]);
  });

  it('get() of a decimal counter reads a sum and a set finer than its scale as the database rounds them', async () => {
    t = await app(kind, 'memory', [{ entity: Wallet }]);
    const rows = t.dataSource.getRepository(Wallet);
    await rows.insert({ id: 1, balance: '1.00' });
    await t.buffer.increment(Wallet, 1, 'balance', -0.005);
    await t.buffer.update(Wallet, 2, { balance: '0.125' });
    await t.buffer.increment(Wallet, 2, 'balance', 0.001);
    const before = await t.buffer.getMany(Wallet, [1, 2]);
    expect(await t.buffer.flush()).toMatchObject({ deadLettered: 0 });
    const after = await rows.find({ order: { id: 'ASC' } });
    expect(before).toEqual(after.map((row) => ({ balance: Number(row.balance) })));
  });

  // PostgreSQL's real holds single precision (0.1 + 0.1 + 0.1 reads back as 0.3); get() added
  // doubles. MariaDB's real and SQLite's are doubles.
  it('get(), getMany() and overlay() of a real counter counted 0.1 three times read what the database ends with', async () => {
    t = await app(kind, 'memory', [{ entity: Gauge }]);
    await readsMatchFlushed(t, 'Gauge', 'level', 0, [0.1, 0.1, 0.1]);
  });

  // MariaDB's float is single precision and is read back with 6 significant digits
  // (0.30000000000000004 stored reads as 0.3, 16777217 as 16777200); get() added doubles.
  it('get(), getMany() and overlay() of a float counter counted 0.1 three times read what the database ends with', async () => {
    t = await app(kind, 'memory', [{ entity: Ratio }]);
    await readsMatchFlushed(t, 'Ratio', 'level', 0, [0.1, 0.1, 0.1]);
  });

  it.each(['Gauge', 'Ratio'] as const)(
    'getMany() of %s counters at values a single-precision float rounds reads what the database ends with',
    async (entity) => {
      t = await app(kind, 'memory', [{ entity: entity === 'Gauge' ? Gauge : Ratio }]);
      const starts = [1.2345678, 16777217, 0.1, 123456.7, -2.5e-7];
      const rows = t.dataSource.getRepository<{ id: number; level: number }>(entity);
      await rows.insert(starts.map((level, i) => ({ id: i + 1, level })));
      const ids = starts.map((_, i) => i + 1);
      for (const id of ids) await t.buffer.increment(entity, id, 'level', 0.2);
      await t.buffer.update(entity, 9, { level: 3.3333333 });
      await t.buffer.increment(entity, 9, 'level', 0.7);
      const before = await t.buffer.getMany(entity, [...ids, 9], ['level']);
      expect(await t.buffer.flush()).toMatchObject({ deadLettered: 0 });
      const after = await rows.find({ order: { id: 'ASC' } });
      expect(before).toEqual(after.map((row) => ({ level: row.level })));
    },
  );

  // PostgreSQL's real and MariaDB's float keep 16777216 of 16777217 (MariaDB prints 6 digits):
  // get() read the value written.
  it('get() of a max-merged single-precision column reads what the database ends with', async () => {
    const entity = kind === 'mariadb' ? Ratio : Gauge;
    t = await app(kind, 'memory', [{ entity, merge: { level: 'max' } }]);
    await t.buffer.update(entity, 1, { level: 16777217 });
    await t.buffer.update(entity, 2, { level: 1.2345678 });
    const before = [await t.buffer.get(entity, 1, 'level'), await t.buffer.get(entity, 2, 'level')];
    expect(await t.buffer.flush()).toMatchObject({ deadLettered: 0 });
    const rows = await t.dataSource.getRepository(entity).find({ order: { id: 'ASC' } });
    expect(before).toEqual(rows.map((row) => row.level));
  });

  // Not fixed: get() returns a number, which cannot hold 9007199254740994: it reads
  // 9007199254740992 (2 less than the row) with no error. Returning a string or refusing the read
  // is an API decision.
  it.failing(
    'get(), getMany() and overlay() of a bigint counter beyond 2^53 read what the database ends with',
    async () => {
      t = await app(kind, 'memory', [{ entity: Tally }]);
      await readsMatchFlushed(t, 'Tally', 'total', '9007199254740993', [1]);
    },
  );
});

const MIXED_KEY = { name: 'ä ☃', big: '9007199254740993', day: '2024-03-05', flag: true };
/** The same row as {@link MIXED_KEY}, spelled otherwise and with its keys in another order. */
const MIXED_RESPELT = { flag: true, day: '2024-03-05', big: 9007199254740993n, name: 'ä ☃' };

describe.each(kinds.flatMap((kind) => storages.map((storage) => [kind, storage] as const)))(
  'review 6: unusual keys on %s with %s storage',
  (kind, storage) => {
    let t: TestApp | undefined;
    afterEach(async () => {
      await t?.close();
      t = undefined;
    });

    it('counts a composite key of text, bigint, date and boolean spelled two ways as one row, read by getMany() with duplicates', async () => {
      t = await app(kind, storage, [{ entity: Mixed }]);
      await t.buffer.increment(Mixed, MIXED_KEY, 'hits', 2);
      await t.buffer.increment(Mixed, MIXED_RESPELT, 'hits', 3);
      const other = { ...MIXED_KEY, flag: false };
      await t.buffer.increment(Mixed, other, 'hits', 7);
      const before = await t.buffer.getMany(Mixed, [MIXED_RESPELT, other, MIXED_KEY, other]);
      expect(before).toEqual([{ hits: 5 }, { hits: 7 }, { hits: 5 }, { hits: 7 }]);
      expect(await t.buffer.flush()).toMatchObject({ deadLettered: 0 });
      const rows = await t.dataSource.query(
        `SELECT CAST(big AS ${kind === 'postgres' ? 'TEXT' : 'CHAR'}) AS big, hits FROM r6_mixed ORDER BY hits`,
      );
      expect(rows).toEqual([
        { big: '9007199254740993', hits: 5 },
        { big: '9007199254740993', hits: 7 },
      ]);
      expect(await t.buffer.getMany(Mixed, [MIXED_KEY, other])).toEqual([{ hits: 5 }, { hits: 7 }]);
    });

    it('discard() of a respelt composite key drops the row it names and no other', async () => {
      t = await app(kind, storage, [{ entity: Mixed }]);
      await t.buffer.increment(Mixed, MIXED_KEY, 'hits', 2);
      await t.buffer.increment(Mixed, { ...MIXED_KEY, flag: false }, 'hits', 1);
      await t.buffer.discard(Mixed, MIXED_RESPELT);
      expect(await t.buffer.get(Mixed, MIXED_KEY, 'hits')).toBe(0);
      expect(await t.buffer.flush()).toMatchObject({ deadLettered: 0 });
      expect(await t.dataSource.getRepository(Mixed).find()).toEqual([
        expect.objectContaining({ flag: false, hits: 1 }),
      ]);
    });

    const TAGS = [
      // MariaDB folds keys as its collation compares them (see below).
      kind === 'mariadb' ? 'unicode 😀' : 'Ünïcödé 😀',
      '["a",1]',
      '{"tag":"x"}',
      'null',
      '',
      '0',
      '00',
      '1e3',
      'a\nb',
      '\\',
      'x'.repeat(200),
      ...(kind === 'postgres' ? [] : ['a\u0000b']),
      // MariaDB compares trailing spaces away (PAD SPACE).
      ...(kind === 'mariadb' ? [] : ['t', 't ']),
    ];
    it('counts each free-text key on its own row and reads it back exactly', async () => {
      t = await app(kind, storage, [{ entity: Tagged }]);
      for (const [i, tag] of TAGS.entries()) await t.buffer.increment(Tagged, tag, 'hits', i + 1);
      const before = await t.buffer.getMany(Tagged, TAGS);
      expect(before).toEqual(TAGS.map((_, i) => ({ hits: i + 1 })));
      expect(await t.buffer.flush()).toMatchObject({ deadLettered: 0 });
      const rows = await t.dataSource.getRepository(Tagged).find();
      expect(new Map(rows.map((row) => [row.tag, row.hits]))).toEqual(
        new Map(TAGS.map((tag, i) => [tag, i + 1])),
      );
      expect(await t.buffer.getMany(Tagged, TAGS)).toEqual(before);
    });
  },
);

// Over-folding would merge two rows: the server is asked about every collation the keys fold under.
it('MariaDB: every caseless utf8, utf16, utf32 and ucs2 collation compares the case of basic Greek and Cyrillic letters away', async () => {
  if (!kinds.includes('mariadb')) return;
  const connection = await mysql.createConnection({ uri: MARIADB_URL });
  try {
    const [rows] = await connection.query(
      'SELECT COLLATION_NAME AS name, CHARACTER_SET_NAME AS charset FROM information_schema.COLLATIONS ' +
        "WHERE CHARACTER_SET_NAME IN ('utf8mb4', 'utf8mb3', 'utf16', 'utf16le', 'utf32', 'ucs2') " +
        "AND COLLATION_NAME LIKE '%\\_ci'",
    );
    const collations = rows as Array<{ name: string; charset: string }>;
    expect(collations.length).toBeGreaterThan(40);
    const capitals = [
      ...Array.from({ length: 0x30 }, (_, i) => String.fromCharCode(0x400 + i)),
      ...Array.from({ length: 0x19 }, (_, i) => String.fromCharCode(0x391 + i)),
    ].filter((letter) => letter !== '\u03a2');
    const pairs = [
      ...capitals.map((capital) => [capital, capital.toLowerCase()]),
      ['ς', 'σ'],
      ['ς', 'Σ'],
    ];
    for (const { name, charset } of collations) {
      const same = `CONVERT(? USING ${charset}) COLLATE ${name} = CONVERT(? USING ${charset}) COLLATE ${name}`;
      const [[answer]] = (await connection.query(
        `SELECT ${pairs.map((_, i) => `${same} AS c${i}`).join(', ')}`,
        pairs.flat(),
      )) as unknown as [[Record<string, number>]];
      const apart = pairs.filter((_, i) => answer[`c${i}`] !== 1).map((pair) => pair.join(''));
      expect({ name, apart }).toEqual({ name, apart: [] });
    }
  } finally {
    await connection.end();
  }
});

describe.each(storages)(
  "review 6: keys folded by MariaDB's collation, with %s storage",
  (storage) => {
    const kind = 'mariadb';
    if (!kinds.includes('mariadb')) return;
    let t: TestApp | undefined;
    afterEach(async () => {
      await t?.close();
      t = undefined;
    });

    // Not fixed: the buffer keys a row by its key folded as utf8mb4_general_ci compares it
    // ('Ünïcödé' and 'unicode' name one row) and the upsert inserts that folded text: the row the
    // flush creates is named 'unicode', not as the app wrote it. Keeping the first spelling of a
    // key beside the folded one would need a change in every storage's format.
    it.failing(
      'a row a counter or an update creates keeps its key as written (case and accents)',
      async () => {
        t = await app(kind, storage, [{ entity: Tagged }]);
        await t.buffer.increment(Tagged, 'Ünïcödé', 'hits', 1);
        await t.buffer.update(Tagged, 'Alice', { hits: 5 });
        expect(await t.buffer.flush()).toMatchObject({ deadLettered: 0 });
        const rows = await t.dataSource.getRepository(Tagged).find({ order: { hits: 'ASC' } });
        expect(rows.map((row) => row.tag)).toEqual(['Ünïcödé', 'Alice']);
      },
    );

    // Keys folded only ASCII letter case (and Latin accents) under a `_ci` collation;
    // utf8mb4_general_ci compares Greek and Cyrillic letter case away too, so 'Дом' and 'дом' were two
    // buffered rows: the flush merged them into the one row, but get() of either read its own.
    it.each([
      ['Дом', 'дом', 'ДОМ'],
      ['ΟΔΟΣ', 'οδος', 'ΟΔΟΣ'],
    ])(
      'get() of a Greek or Cyrillic key counted in two letter cases reads what the database ends with (%s)',
      async (one, other, read) => {
        t = await app(kind, storage, [{ entity: Tagged }]);
        await t.dataSource.getRepository(Tagged).insert({ tag: other, hits: 0 });
        await t.buffer.increment(Tagged, one, 'hits', 1);
        await t.buffer.increment(Tagged, other, 'hits', 1);
        const before = await t.buffer.get(Tagged, read, 'hits');
        expect(await t.buffer.flush()).toMatchObject({ deadLettered: 0 });
        const rows = await t.dataSource.getRepository(Tagged).find();
        expect(rows).toEqual([{ tag: other, hits: 2 }]);
        expect(before).toBe(2);
      },
    );
  },
);

describe.each(kinds)('review 6: instant keys on %s', (kind) => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  // MariaDB truncates a fraction its datetime does not keep; the key rounded it (as MySQL does):
  // the flush created a row at 10:00:01 instead of counting the one stored at 10:00:00.
  it('counts a row keyed by an instant with a fraction the column does not keep into the row the app stored', async () => {
    t = await app(kind, 'memory', [{ entity: Visit }]);
    const at = new Date('2024-03-05T10:00:00.600Z');
    const visits = t.dataSource.getRepository(Visit);
    await visits.insert({ at, hits: 0 });
    const [stored] = await visits.find();
    await t.buffer.increment(Visit, at, 'hits', 1);
    await t.buffer.increment(Visit, stored.at, 'hits', 1);
    expect(await t.buffer.flush()).toMatchObject({ deadLettered: 0 });
    expect(await visits.find()).toEqual([{ at: stored.at, hits: 2 }]);
  });
});

describe.each(storages)('review 6: citext keys on postgres with %s storage', (storage) => {
  if (!kinds.includes('postgres')) return;
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  // Not fixed, as under MariaDB's collations: the key is lower-cased so that 'Alice' and 'alice'
  // name one row, and the upsert inserts that text: the flush creates the row 'alice'.
  it.failing('a row a counter creates keeps its citext key as written', async () => {
    const database = await createTestDatabase('postgres');
    const client = new pg.Client({
      connectionString: (database.options({ entities: [] }) as { url: string }).url,
    });
    await client.connect();
    await client.query('CREATE EXTENSION IF NOT EXISTS citext');
    await client.end();
    t = await createTestApp(
      'postgres',
      { storage: storageOptions(storage) },
      {
        database,
        entities: [Label],
        imports: [featureModule([{ entity: Label, onMissingRow: 'insert' }])],
      },
    );
    const close = t.close;
    t.close = async () => {
      await close();
      await database.drop();
    };
    await t.buffer.increment(Label, 'Alice', 'hits', 1);
    await t.buffer.increment(Label, 'ALICE', 'hits', 1);
    expect(await t.buffer.flush()).toMatchObject({ deadLettered: 0 });
    expect(await t.dataSource.getRepository(Label).find()).toEqual([{ name: 'Alice', hits: 2 }]);
  });
});

describe.each(storages.map((storage) => [kinds.at(-1)!, storage] as const))(
  'review 6: large integer deltas on %s with %s storage',
  (kind, storage) => {
    let t: TestApp | undefined;
    afterEach(async () => {
      await t?.close();
      t = undefined;
    });

    // Not fixed: a counter's pending deltas add up as a JavaScript number (in every storage), so a
    // sum past 2^53 is rounded: 2^53 - 1 and 2 make 2^53, one less than was acknowledged. Refusing
    // the increment that makes the pending sum unsafe would need a check inside each storage's
    // atomic step (the Lua script, the LMDB transaction).
    it.failing(
      'adds every increment of a bigint counter whose coalesced sum passes 2^53, or refuses the one that would lose it',
      async () => {
        t = await app(kind, storage, [{ entity: Tally }]);
        await t.dataSource.getRepository(Tally).insert({ id: 1, total: '0' });
        await t.buffer.increment(Tally, 1, 'total', Number.MAX_SAFE_INTEGER);
        const second = await t.buffer.increment(Tally, 1, 'total', 2).then(
          () => 2n,
          () => 0n,
        );
        expect(await t.buffer.flush()).toMatchObject({ deadLettered: 0 });
        const [row] = await t.dataSource.query(
          `SELECT CAST(total AS ${kind === 'postgres' ? 'TEXT' : 'CHAR'}) AS total FROM r6_tally`,
        );
        expect(row.total).toBe(String(BigInt(Number.MAX_SAFE_INTEGER) + second));
      },
    );
  },
);
