import 'reflect-metadata';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { Column, Entity, PrimaryColumn } from 'typeorm';
import { databaseKinds, type DatabaseKind } from './support/databases.js';
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

const ENTITIES_7 = [Vault, Purse, Till, Word, Word16];

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

  // utf8mb4_general_ci compares the case of every letter Unicode gives a simple case
  // mapping; the buffer folds only U+0391–U+03A9 and U+0400–U+042F.
  it.each([
    ['Cyrillic Ґ (U+0490)', ['Ґ', 'ґ']],
    ['Greek Ά with tonos', ['Ά', 'ά']],
    ['Cyrillic Ѣ (U+0462)', ['Ѣ', 'ѣ']],
  ])('get() of a %s key in both cases reads the one row the database counts', async (_, keys) => {
    await oneRow(Word, keys);
  });

  it('get() of a Cyrillic key in both cases of a utf16_general_ci column reads the one row the database counts', async () => {
    await oneRow(Word16, ['Я', 'я']);
  });
});
