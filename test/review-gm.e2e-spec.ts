import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Column, Entity, PrimaryColumn } from 'typeorm';
import { ENTITIES, Post } from './support/entities.js';
import { holdAt } from './support/query-gate.js';
import { createTestApp, type TestApp } from './support/test-app.js';

/** A text key, a counter, a REAL counter and a bigint counter. */
@Entity('review_gm_text')
class TextKeyed {
  @PrimaryColumn('varchar')
  code!: string;

  @Column('int', { default: 0, nullable: true })
  views!: number;

  @Column('double', { default: 0 })
  ratio!: number;

  @Column('bigint', { default: 0 })
  big!: string;
}

/** A text key compared case-insensitively by SQLite. */
@Entity('review_gm_nocase')
class NocaseKeyed {
  @PrimaryColumn({ type: 'varchar', collation: 'NOCASE' })
  code!: string;

  @Column('int', { default: 0 })
  views!: number;
}

/** A REAL key. */
@Entity('review_gm_real')
class RealKeyed {
  @PrimaryColumn('double')
  id!: number;

  @Column('int', { default: 0 })
  views!: number;
}

/** A 64-bit integer key. */
@Entity('review_gm_bigint')
class BigintKeyed {
  @PrimaryColumn('bigint')
  id!: string;

  @Column('int', { default: 0 })
  views!: number;
}

const ENTITY_LIST = [...ENTITIES, TextKeyed, NocaseKeyed, RealKeyed, BigintKeyed];

const apps: TestApp[] = [];
afterEach(async () => {
  while (apps.length) await apps.pop()!.close();
});

async function sqliteApp(): Promise<TestApp> {
  const t = await createTestApp('sqlite', {}, { entities: ENTITY_LIST });
  apps.push(t);
  return t;
}

/**
 * `getMany()` of `ids` reads each id's `columns` as `get()` does, before a
 * flush and after it, and after the flush both equal the database's row.
 */
async function expectGetManyAsGet(
  t: TestApp,
  entity: new () => object,
  ids: unknown[],
  columns: string[],
): Promise<void> {
  const read = async () => {
    const many = await t.buffer.getMany(entity, ids, columns as never[]);
    const single = [];
    for (const id of ids) {
      const row: Record<string, number> = {};
      for (const column of columns)
        row[column] = (await t.buffer.get(entity, id, column as never)) as unknown as number;
      single.push(row);
    }
    expect(many).toEqual(single);
    return many;
  };
  const before = await read();
  await t.buffer.flush();
  expect(await read()).toEqual(before);
}

describe('getMany() on SQLite reads what get() reads', () => {
  it('text keys JSON escapes or SQLite could treat apart: quotes, backslashes, U+0000, a lone surrogate, long, numeric-looking', async () => {
    const t = await sqliteApp();
    const codes = [
      'plain',
      'say "hi"',
      'back\\slash',
      'nul\u0000inside',
      'lone\ud800surrogate',
      '\u2028line\u2029sep',
      'x'.repeat(300),
      '007',
      '7',
      '1e3',
      '-0',
      ' 7 ',
      '[1]',
      'null',
    ];
    const repo = t.dataSource.getRepository(TextKeyed);
    for (const [i, code] of codes.entries()) await repo.insert({ code, views: i * 10 });
    for (const [i, code] of codes.entries())
      await t.buffer.increment(TextKeyed, code, 'views', i + 1);
    const values = await t.buffer.getMany(TextKeyed, codes, ['views']);
    expect(values).toEqual(codes.map((_, i) => ({ views: i * 10 + i + 1 })));
    await expectGetManyAsGet(t, TextKeyed, codes, ['views']);
  });

  it('REAL, bigint beyond 2^53, NULL and text cells', async () => {
    const t = await sqliteApp();
    await t.dataSource.query(
      `INSERT INTO review_gm_text (code, views, ratio, big) VALUES ` +
        `('a', NULL, 0.30000000000000004, 9007199254740993), ` +
        `('b', 'abc', 0.3333333333333333, -9223372036854775808), ` +
        `('c', ' 12 ', 1e300, 9223372036854775807), ` +
        `('d', '0x10', -0.0, 5)`,
    );
    await t.buffer.increment(TextKeyed, 'a', 'ratio', 0.1);
    await t.buffer.increment(TextKeyed, 'd', 'big', 1);
    await expectGetManyAsGet(
      t,
      TextKeyed,
      ['a', 'b', 'c', 'd', 'missing'],
      ['views', 'ratio', 'big'],
    );
  });

  it('integer keys at and beyond 2^53 up to the int64 bounds, given as numbers, strings and bigints', async () => {
    const t = await sqliteApp();
    const ids = ['9007199254740993', '-9223372036854775808', '9223372036854775807', '42'];
    for (const id of ids)
      await t.dataSource.query(`INSERT INTO review_gm_bigint (id, views) VALUES (${id}, 100)`);
    for (const id of ids) await t.buffer.increment(BigintKeyed, id, 'views', 1);
    const spellings = [...ids, 9007199254740993n, '+42', '0042', 42];
    const values = await t.buffer.getMany(BigintKeyed, spellings, ['views']);
    expect(values).toEqual(spellings.map(() => ({ views: 101 })));
    await expectGetManyAsGet(t, BigintKeyed, spellings, ['views']);
  });

  it('a key column with COLLATE NOCASE', async () => {
    const t = await sqliteApp();
    await t.dataSource.getRepository(NocaseKeyed).insert({ code: 'Abc', views: 10 });
    await t.buffer.increment(NocaseKeyed, 'ABC', 'views', 1);
    await expectGetManyAsGet(t, NocaseKeyed, ['abc', 'ABC', 'Abc', 'x'], ['views']);
  });

  it('REAL keys: fractions, tiny and huge values, integers', async () => {
    const t = await sqliteApp();
    const ids = [1.5, 0.1, 0.30000000000000004, 5e-324, 1.7976931348623157e308, 3, -2, 1e21];
    const repo = t.dataSource.getRepository(RealKeyed);
    for (const id of ids) await repo.insert({ id, views: 100 });
    for (const id of ids) await t.buffer.increment(RealKeyed, id, 'views', 1);
    expect(await t.buffer.getMany(RealKeyed, ids, ['views'])).toEqual(
      ids.map(() => ({ views: 101 })),
    );
    await expectGetManyAsGet(t, RealKeyed, ids, ['views']);
  });

  it('REAL keys holding integers between 2^53 and 2^63', async () => {
    const t = await sqliteApp();
    // JavaScript spells these with trailing zeros ('4611686018427389000'):
    // SQLite reads that text as a different (64-bit integer) value.
    const ids = [2 ** 62 + 1024, 1e18 + 128, 2 ** 63 - 1024];
    const repo = t.dataSource.getRepository(RealKeyed);
    for (const id of ids) await repo.insert({ id, views: 100 });
    for (const id of ids) await t.buffer.increment(RealKeyed, id, 'views', 1);
    expect(await t.buffer.get(RealKeyed, ids[0], 'views')).toBe(101);
    expect(await t.buffer.getMany(RealKeyed, ids, ['views'])).toEqual(
      ids.map(() => ({ views: 101 })),
    );
  });

  it('more keys than one statement binds, with a batch in flight, read as the flush leaves them', async () => {
    const t = await sqliteApp();
    const count = 40_000;
    const ids = Array.from({ length: count }, (_, i) => i + 1);
    await t.dataSource.query(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${count}) ` +
        `INSERT INTO post (id, views) SELECT i, i FROM n WHERE i % 3 <> 0`,
    );
    for (let i = 1; i <= count; i += 7) await t.buffer.increment(Post, i, 'views', 2);
    // A flush held at its commit: its batch is in flight while getMany() reads.
    const gate = holdAt('commit');
    const flushing = t.buffer.flush();
    await gate.reached;
    for (let i = 1; i <= count; i += 11) await t.buffer.increment(Post, i, 'views', 1);
    const expected = ids.map((i) => ({
      views: (i % 3 ? i : 0) + (i % 7 === 1 ? 2 : 0) + (i % 11 === 1 ? 1 : 0),
    }));
    // Missing rows are not created (the default onMissingRow), so the rows i % 3 == 0 stay absent.
    const missing = (i: number) => i % 3 === 0;
    const reading = t.buffer.getMany(Post, ids, ['views']);
    gate.release();
    await flushing;
    const values = await reading;
    expect(values.filter((_, n) => !missing(ids[n]))).toEqual(
      expected.filter((_, n) => !missing(ids[n])),
    );
    await t.buffer.flush();
    const rows: Array<{ id: number; views: number }> = await t.dataSource.query(
      'SELECT id, views FROM post ORDER BY id',
    );
    const after = await t.buffer.getMany(Post, ids, ['views']);
    const held = new Map(rows.map((r) => [r.id, r.views]));
    ids.forEach((id, n) => {
      if (held.has(id)) expect(after[n].views).toBe(held.get(id));
    });
  });
});

describe('getMany() on SQLite reads every cell get() reads', () => {
  it('a counter cell holding a BLOB (SQLite lets any column hold one)', async () => {
    const t = await sqliteApp();
    await t.dataSource.query(`INSERT INTO post (id, views) VALUES (1, x'35'), (2, 7)`);
    await t.buffer.increment(Post, 1, 'views', 1);
    expect(await t.buffer.get(Post, 1, 'views')).toBe(6);
    await expectGetManyAsGet(t, Post, [1, 2], ['views']);
    const [row] = await t.dataSource.query('SELECT views FROM post WHERE id = 1');
    expect(Number(row.views)).toBe(6);
  });
});

describe('get() and getMany() on SQLite agree on a REAL counter past the largest double', () => {
  it('reads the infinity the database holds (SQLite casts it to the text "Inf")', async () => {
    const t = await sqliteApp();
    await t.dataSource
      .getRepository(TextKeyed)
      .insert({ code: 'a', ratio: 1.7976931348623157e308 });
    await t.buffer.increment(TextKeyed, 'a', 'ratio', 1e308);
    await t.buffer.flush();
    const [row] = await t.dataSource.query(`SELECT ratio FROM review_gm_text WHERE code = 'a'`);
    expect(row.ratio).toBe(Infinity);
    expect(await t.buffer.getMany(TextKeyed, ['a'], ['ratio'])).toEqual([{ ratio: Infinity }]);
    expect(await t.buffer.get(TextKeyed, 'a', 'ratio')).toBe(Infinity);
  });
});
