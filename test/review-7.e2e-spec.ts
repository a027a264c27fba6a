import 'reflect-metadata';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { Column, Entity, PrimaryColumn } from 'typeorm';
import mysql from 'mysql2/promise';
import { databaseKinds, MARIADB_URL, type DatabaseKind } from './support/databases.js';
import { ENTITIES } from './support/entities.js';
import { featureModule } from './support/feature-module.js';
import { closeTestClients, storageOptions } from './support/storages.js';
import { createTestApp, type TestApp } from './support/test-app.js';
import type { WriteBufferEntityOptions } from '../lib/index.js';

/** A large balance kept to the cent. */
@Entity('r7_vault')
class Vault {
  @PrimaryColumn('int')
  id!: number;

  @Column('decimal', { precision: 30, scale: 2, default: 0 })
  balance!: string;
}

/** A decimal declared with a scale and no precision. */
@Entity('r7_purse')
class Purse {
  @PrimaryColumn('int')
  id!: number;

  @Column('decimal', { scale: 2, default: 0 })
  coins!: string;
}

/** Rows keyed by free text under MariaDB's default utf8mb4 collation. */
@Entity('r7_word')
class Word {
  @PrimaryColumn('varchar', { length: 100 })
  word!: string;

  @Column('int', { default: 0 })
  hits!: number;
}

/** Rows keyed by text in a utf16 column with a caseless collation. */
@Entity('r7_word16')
class Word16 {
  @PrimaryColumn('varchar', { length: 100, charset: 'utf16', collation: 'utf16_general_ci' })
  word!: string;

  @Column('int', { default: 0 })
  hits!: number;
}

/** A decimal declared with a precision and no scale. */
@Entity('r7_till')
class Till {
  @PrimaryColumn('int')
  id!: number;

  @Column('decimal', { precision: 10, default: 0 })
  coins!: string;
}

/** A float counter: single precision on MariaDB. */
@Entity('r7_dial')
class Dial {
  @PrimaryColumn('int')
  id!: number;

  @Column('float', { default: 0 })
  level!: number;
}

/** Nullable counters with defaults other than NULL. */
@Entity('r7_meter')
class Meter {
  @PrimaryColumn('int')
  id!: number;

  @Column('int', { nullable: true, default: 5 })
  a!: number | null;

  @Column('int', { nullable: true, default: 7 })
  b!: number | null;
}

/** Visits counted per second, keyed by a MariaDB `datetime` of whole seconds. */
@Entity('r7_visit')
class Visit {
  @PrimaryColumn({ type: Date })
  at!: Date;

  @Column('int', { default: 0 })
  hits!: number;
}

const ENTITIES_7 = [Vault, Purse, Till, Dial, Meter, Visit, Word, Word16];

const kinds = await databaseKinds();
afterAll(closeTestClients);

/** The test app on `kind` with memory storage, each entity upserting unless it says otherwise. */
async function app(kind: DatabaseKind, features: WriteBufferEntityOptions[]): Promise<TestApp> {
  return createTestApp(
    kind,
    { storage: storageOptions('memory') },
    {
      // A utf16 column is MySQL/MariaDB only.
      entities: [...ENTITIES, ...ENTITIES_7.filter((e) => kind === 'mariadb' || e !== Word16)],
      imports: [featureModule(features.map((f) => ({ onMissingRow: 'insert', ...f })))],
    },
  );
}

/** The text of a column of every row of `table`, by id. */
async function textOf(t: TestApp, table: string, column: string): Promise<string[]> {
  const text = t.database.kind === 'postgres' ? 'TEXT' : 'CHAR';
  const rows: Array<{ v: string }> = await t.dataSource.query(
    `SELECT CAST(${column} AS ${text}) AS v FROM ${table} ORDER BY id`,
  );
  return rows.map((row) => row.v);
}

describe.each(kinds.filter((kind) => kind !== 'sqlite'))(
  'review 7: decimal counters on %s',
  (kind) => {
    let t: TestApp | undefined;
    afterEach(async () => {
      await t?.close();
      t = undefined;
    });

    // MariaDB: mysql2 binds the delta 1e-7 as the text `1e-7`, a DOUBLE literal, so the
    // whole VALUES column is DOUBLE and every row of the chunk is added as a double.
    it('a cent counted into a 17-digit decimal balance ends exact when another row of the flush counts 1e-7', async () => {
      t = await app(kind, [{ entity: Vault }]);
      const rows = t.dataSource.getRepository(Vault);
      await rows.insert([
        { id: 1, balance: '12345678901234567.89' },
        { id: 2, balance: '0.00' },
      ]);
      await t.buffer.increment(Vault, 1, 'balance', 0.01);
      await t.buffer.increment(Vault, 2, 'balance', 1e-7);
      expect(await t.buffer.flush()).toMatchObject({ deadLettered: 0 });
      expect(await textOf(t, 'r7_vault', 'balance')).toEqual(['12345678901234567.90', '0.00']);
    });

    it('an increment of 1e21 into a decimal balance ends exact', async () => {
      t = await app(kind, [{ entity: Vault }]);
      await t.dataSource.getRepository(Vault).insert({ id: 1, balance: '12345678901234567.89' });
      await t.buffer.increment(Vault, 1, 'balance', 1e21);
      expect(await t.buffer.flush()).toMatchObject({ deadLettered: 0 });
      expect(await textOf(t, 'r7_vault', 'balance')).toEqual(['1000012345678901234567.89']);
    });

    // The column is created as `decimal` (PostgreSQL: any scale; MariaDB: decimal(10, 0)),
    // yet get() rounds to the declared scale 2.
    // PostgreSQL: `decimal` with a precision alone is numeric(10), which keeps no fraction.
    it.each([
      ['a scale but no precision', Purse],
      ['a precision but no scale', Till],
    ])(
      'get() of a decimal declared with %s reads what the database ends with',
      async (_, entity) => {
        t = await app(kind, [{ entity }]);
        const rows = t.dataSource.getRepository<{ id: number; coins: string }>(entity);
        await rows.insert({ id: 1, coins: '1' });
        await t.buffer.increment(entity, 1, 'coins', 0.125);
        await t.buffer.increment(entity, 1, 'coins', 0.25);
        const got = await t.buffer.get(entity, 1, 'coins');
        expect(await t.buffer.flush()).toMatchObject({ deadLettered: 0 });
        expect(got).toBe(Number((await rows.findOneByOrFail({ id: 1 })).coins));
      },
    );
  },
);

describe.each(kinds)('review 7: upserted nullable counters on %s', (kind) => {
  it('get() of nullable counters with defaults, counted in rows that exist and rows a flush creates, reads what the database ends with', async () => {
    const t = await app(kind, [{ entity: Meter }]);
    try {
      const rows = t.dataSource.getRepository(Meter);
      await rows.insert({ id: 1, a: null, b: null });
      await t.buffer.increment(Meter, 1, 'a', 1);
      await t.buffer.increment(Meter, 2, 'b', 2);
      await t.buffer.increment(Meter, 3, 'a', 3);
      await t.buffer.increment(Meter, 3, 'b', -3);
      await t.buffer.increment(Meter, 4, 'a', 4);
      await t.buffer.increment(Meter, 4, 'a', -4);
      const ids = [1, 2, 3, 4];
      const before = await t.buffer.getMany(Meter, ids, ['a', 'b']);
      expect(await t.buffer.flush()).toMatchObject({ deadLettered: 0 });
      const after = await t.buffer.getMany(Meter, ids, ['a', 'b']);
      const stored = await rows.find({ order: { id: 'ASC' } });
      expect(stored.map(({ a, b }) => ({ a: a ?? 0, b: b ?? 0 }))).toEqual(before);
      expect(after).toEqual(before);
    } finally {
      await t.close();
    }
  });
});

// Not fixed: MariaDB keeps 1.2345649 in a float column and prints it with 6 digits (1.23456);
// get() adds the delta to the float nearest the printed value, 1.2345602 (1.23456), where the
// database adds it to the float it keeps: 1.2345651, read back as 1.23457. Reading the column
// as a double (`col + 0e0`) would give get() the float the database adds to.
it.failing(
  'MariaDB: get() of a float counter whose value prints rounded reads what the database ends with',
  async () => {
    if (!kinds.includes('mariadb')) return;
    const t = await app('mariadb', [{ entity: Dial }]);
    try {
      const rows = t.dataSource.getRepository(Dial);
      await rows.insert({ id: 1, level: 1.2345649 });
      await t.buffer.increment(Dial, 1, 'level', 0.0000002);
      const got = await t.buffer.get(Dial, 1, 'level');
      expect(await t.buffer.flush()).toMatchObject({ deadLettered: 0 });
      expect(got).toBe((await rows.findOneByOrFail({ id: 1 })).level);
    } finally {
      await t.close();
    }
  },
);

// Not fixed: a MariaDB server whose sql_mode has TIME_ROUND_FRACTIONAL rounds a datetime's
// fraction (00:00:00.6 is stored and matched as 00:00:01), but the buffer always cuts it: the
// increment is keyed 00:00:00 and flushed into a row of its own, not the app's row. The buffer
// reads sql_mode for strict mode already; it could key datetimes by it too.
// The mode is set server-wide for the test's app (and restored): suites sharing the server at
// that moment would see it.
it.failing(
  'MariaDB with TIME_ROUND_FRACTIONAL: an increment of a datetime key with a fraction counts into the row the server matches',
  async () => {
    if (!kinds.includes('mariadb')) return;
    const connection = await mysql.createConnection({ uri: MARIADB_URL });
    const [[{ mode }]] = (await connection.query(
      'SELECT @@GLOBAL.sql_mode AS mode',
    )) as unknown as [[{ mode: string }]];
    await connection.query(
      "SET GLOBAL sql_mode = CONCAT(@@GLOBAL.sql_mode, ',TIME_ROUND_FRACTIONAL')",
    );
    try {
      const t = await app('mariadb', [{ entity: Visit }]);
      try {
        const rows = t.dataSource.getRepository(Visit);
        await rows.insert({ at: new Date('2024-01-01T00:00:00.600Z'), hits: 1 });
        await t.buffer.increment(Visit, new Date('2024-01-01T00:00:00.600Z'), 'hits', 2);
        expect(await t.buffer.flush()).toMatchObject({ deadLettered: 0 });
        const stored = await rows.find();
        expect(stored.map(({ at, hits }) => ({ at: at.toISOString(), hits }))).toEqual([
          { at: '2024-01-01T00:00:01.000Z', hits: 3 },
        ]);
      } finally {
        await t.close();
      }
    } finally {
      await connection.query('SET GLOBAL sql_mode = ?', [mode]);
      await connection.end();
    }
  },
);

describe.each(kinds.filter((kind) => kind === 'mariadb'))('review 7: text keys on %s', (kind) => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  /** Counts 1 into each of `keys` (which the column compares equal) and checks get() of each against the row. */
  async function oneRow(entity: typeof Word | typeof Word16, keys: string[]): Promise<void> {
    t = await app(kind, [{ entity }]);
    for (const key of keys) await t.buffer.increment(entity, key, 'hits', 1);
    const before = await t.buffer.getMany(entity, keys, ['hits']);
    expect(await t.buffer.flush()).toMatchObject({ deadLettered: 0 });
    const rows = await t.dataSource.getRepository(entity).find();
    expect(rows.map((row) => row.hits)).toEqual([keys.length]);
    expect(before).toEqual(keys.map(() => ({ hits: keys.length })));
  }

  // Not fixed: MariaDB's caseless utf8 collations compare the case of every letter Unicode gives
  // a case (utf8mb4_general_ci: Ґ/ґ, Ѣ/ѣ, Ά/ά; the UCA ones accents and tonos too), while the
  // buffer folds only U+0391–U+03A9, U+0400–U+042F and ς: the two spellings are one row to the
  // database and two to the buffer, so get() of either misses what the other counted. Folding as
  // each collation does needs its tables (or the server's WEIGHT_STRING()).
  it.failing.each([
    ['Cyrillic Ґ (U+0490)', ['Ґ', 'ґ']],
    ['Greek Ά with tonos', ['Ά', 'ά']],
    ['Cyrillic Ѣ (U+0462)', ['Ѣ', 'ѣ']],
  ])('get() of a %s key in both cases reads the one row the database counts', async (_, keys) => {
    await oneRow(Word, keys);
  });

  it('get() of a Cyrillic key in both cases of a utf16_general_ci column reads the one row the database counts', async () => {
    await oneRow(Word16, ['Я', 'я']);
  });

  // Not fixed: utf16_general_ci compares Latin accents away as utf8mb4_general_ci does, but
  // `foldsAccents` names utf8 collations only (the same gap as above, one row taken for two).
  it.failing(
    'get() of an accented key and its bare letters in a utf16_general_ci column reads the one row',
    async () => {
      await oneRow(Word16, ['É', 'e']);
    },
  );
});
