import 'reflect-metadata';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { InvalidIdError } from '../lib/index.js';
import { databaseKinds, type DatabaseKind } from './support/databases.js';
import type { BigRow, DayRow, PriceRow, TypedRow, UuidRow } from './support/entities.js';
import { redisAvailable, type StorageKind } from './support/storages.js';
import { createTypedApp, type TypedApp } from './support/typed-app.js';

const storages: StorageKind[] = (await redisAvailable()) ? ['memory', 'redis'] : ['memory'];
const matrix = (await databaseKinds()).flatMap((db) =>
  storages.map((storage) => [db, storage] as [DatabaseKind, StorageKind]),
);

const UUID = '3f2504e0-4f89-41d3-9a0c-0305e82c3301';

describe.each(matrix)('row keys on %s with %s storage', (kind, storage) => {
  const postgres = kind === 'postgres';
  // MariaDB's uuid and integer types behave as PostgreSQL's for keys.
  const typed = postgres || kind === 'mariadb';
  let t: TypedApp;
  beforeAll(async () => {
    t = await createTypedApp(kind, storage);
    await t.dataSource.getRepository<UuidRow>('UuidRow').insert({ id: UUID, hits: 0 });
    await t.dataSource.getRepository<TypedRow>('TypedRow').insert([
      { id: 42, small: 0 },
      { id: 0, small: 0 },
    ] as never);
    await t.dataSource.getRepository<BigRow>('BigRow').insert([
      { id: '9007199254740993', hits: 0 },
      { id: '-9223372036854775808', hits: 0 },
    ]);
    await t.dataSource.getRepository<DayRow>('DayRow').insert({
      day: '2024-03-05',
      at: new Date('2024-03-05T10:00:00.123Z'),
      slot: 7,
      hits: 0,
    });
    await t.dataSource.getRepository<PriceRow>('PriceRow').insert([
      { price: '12.50', code: 'a', hits: 0 },
      { price: '12.50', code: ' a', hits: 0 },
      { price: '12.50', code: 'A', hits: 0 },
    ]);
  });
  afterAll(() => t?.close());
  afterEach(async () => {
    // Every test leaves nothing behind: what it buffered is in the database.
    const report = await t.buffer.flush();
    expect(report.missing).toEqual([]);
    expect(report.deadLettered).toBe(0);
  });

  /**
   * Increments `column` once per spelling; every spelling reads the same
   * value before the flush, the buffer holds one counter, and the flush
   * adds the sum to the one row.
   */
  async function oneRow(
    entity: string,
    spellings: unknown[],
    column: string,
    read: () => Promise<number>,
  ) {
    const before = await read();
    for (const id of spellings) await t.buffer.increment(entity, id, column);
    for (const id of spellings) {
      expect(await t.buffer.get(entity, id, column)).toBe(before + spellings.length);
    }
    expect((await t.buffer.stats()).pending.counters).toBe(1);
    const report = await t.buffer.flush();
    expect(report).toMatchObject({ incremented: 1, missing: [], deadLettered: 0 });
    expect(await read()).toBe(before + spellings.length);
    // Nothing buffered now: getMany() finds the row in the database by every spelling.
    expect(await t.buffer.getMany(entity, spellings, [column])).toEqual(
      spellings.map(() => ({ [column]: before + spellings.length })),
    );
  }

  async function rejected(entity: string, id: unknown, column: string, message: RegExp) {
    await expect(t.buffer.increment(entity, id, column)).rejects.toThrow(InvalidIdError);
    await expect(t.buffer.increment(entity, id, column)).rejects.toThrow(message);
    await expect(t.buffer.update(entity, id, { [column]: 1 })).rejects.toThrow(message);
    await expect(t.buffer.get(entity, id, column)).rejects.toThrow(message);
    await expect(t.buffer.getMany(entity, [id], [column])).rejects.toThrow(message);
    expect((await t.buffer.stats()).pending).toEqual({ counters: 0, updates: 0, inserts: 0 });
  }

  const hits = (entity: string, where: Record<string, unknown>) => async () =>
    Number(
      (await t.dataSource.getRepository<{ hits: number }>(entity).findOneByOrFail(where)).hits,
    );

  if (typed) {
    it('keys a uuid spelled in any case, with braces or without hyphens, as one row', async () => {
      const upper = UUID.toUpperCase();
      await oneRow(
        'UuidRow',
        [
          UUID,
          upper,
          `{${upper}}`,
          UUID.replaceAll('-', ''),
          '3F2504E0-4f89-41D3-9a0c-0305E82C3301',
        ],
        'hits',
        hits('UuidRow', { id: UUID }),
      );
    });
  } else {
    it('keys a uuid by its exact text, which SQLite compares case-sensitively', async () => {
      await oneRow('UuidRow', [UUID, UUID], 'hits', hits('UuidRow', { id: UUID }));
      // An upper-case spelling names another row, as it does in the database.
      await t.buffer.increment('UuidRow', UUID.toUpperCase(), 'hits');
      await t.buffer.increment('UuidRow', UUID, 'hits');
      expect(await t.buffer.get('UuidRow', UUID, 'hits')).toBe(3);
      expect((await t.buffer.stats()).pending.counters).toBe(2);
      const report = await t.buffer.flush();
      expect(report.missing).toEqual([
        expect.objectContaining({ entity: 'UuidRow', id: { id: UUID.toUpperCase() } }),
      ]);
      expect(await hits('UuidRow', { id: UUID })()).toBe(3);
      await t.buffer.flush();
    });
  }

  it.each([
    ['not a uuid', 'not-a-uuid'],
    ['a non-hex letter', '3f2504e0-4f89-41d3-9a0c-0305e82c330g'],
    ['a number', 42],
    ['a short uuid', '3f2504e0-4f89-41d3-9a0c-0305e82c330'],
  ])('rejects a uuid key that is %s', async (_name, id) => {
    await rejected(
      'UuidRow',
      id,
      'hits',
      /Primary column 'id' of entity UuidRow is a uuid, and .* is not a valid uuid key/,
    );
  });

  it('keys integers given as numbers, numeric strings with a sign or leading zeros, and bigints as one row', async () => {
    await oneRow(
      'TypedRow',
      [42, '42', '+42', '042', 42n, 42.0],
      'small',
      async () =>
        (await t.dataSource.getRepository<TypedRow>('TypedRow').findOneByOrFail({ id: 42 })).small,
    );
    await oneRow(
      'TypedRow',
      [0, -0, '0', '-0', '+0', '000', 0n],
      'small',
      async () =>
        (await t.dataSource.getRepository<TypedRow>('TypedRow').findOneByOrFail({ id: 0 })).small,
    );
  });

  it('keys bigints beyond 2^53 exactly, from strings and bigints', async () => {
    const read = (id: string) => async () => {
      const [row] = await t.dataSource.query(
        `SELECT hits FROM big_row WHERE CAST(id AS ${kind === 'mariadb' ? 'CHAR' : 'TEXT'}) = ${postgres ? '$1' : '?'}`,
        [id],
      );
      return Number(row.hits);
    };
    await oneRow(
      'BigRow',
      ['9007199254740993', 9007199254740993n, '+9007199254740993', '09007199254740993'],
      'hits',
      read('9007199254740993'),
    );
    await oneRow(
      'BigRow',
      ['-9223372036854775808', -(2n ** 63n)],
      'hits',
      read('-9223372036854775808'),
    );
  });

  it.each([
    ['blanks around it', ' 42 '],
    ['an exponent', '4.2e1'],
    ['a fraction', '42.0'],
    ['a fractional number', 42.5],
    ['empty', ''],
    ['a sign alone', '-'],
    ['hexadecimal', '0x2a'],
    ['not a number', NaN],
    ['beyond 2^53 as a number', 2 ** 53 + 2],
    ['1e21', 1e21],
    ['a boolean', true],
    ...(typed ? [['beyond the int column', 2 ** 31] as [string, unknown]] : []),
  ])('rejects an integer key with %s', async (_name, id) => {
    await rejected(
      'TypedRow',
      id,
      'small',
      /Primary column 'id' of entity TypedRow is an integer, and .* is not a valid integer key\. Pass an integer from -?\d+ to \d+/,
    );
  });

  it('rejects a bigint key beyond 64 bits', async () => {
    await rejected(
      'BigRow',
      String(2n ** 63n),
      'hits',
      /is an integer, .*from -9223372036854775808 to 9223372036854775807/,
    );
    await rejected('BigRow', 2n ** 63n, 'hits', /is not a valid integer key/);
  });

  it('keys dates and instants in any spelling, in a composite key, as one row', async () => {
    const at = new Date('2024-03-05T10:00:00.123Z');
    await oneRow(
      'DayRow',
      [
        { day: '2024-03-05', at, slot: 7 },
        { day: new Date(2024, 2, 5, 15, 30), at: '2024-03-05T10:00:00.123Z', slot: '7' },
        { day: '2024-03-05', at: '2024-03-05 12:00:00.123+02:00', slot: '+7' },
        { day: '2024-03-05', at: '2024-03-05T05:00:00.123-05', slot: '07' },
        { day: '2024-03-05', at: '2024-03-05T10:00:00.123000Z', slot: 7n },
        { day: '2024-03-05', at: '2024-03-05t10:00:00.123z', slot: 7 },
        { day: '2024-03-05', at: '2024-03-05T15:30:00.123+0530', slot: 7 },
        { day: '2024-03-05', at: new Date(at.getTime()), slot: 7 },
      ],
      'hits',
      hits('DayRow', { day: '2024-03-05', at, slot: 7 }),
    );
  });

  it.each([
    [
      'a day that does not exist',
      { day: '2024-02-30' },
      /column 'day' of entity DayRow is a date, and "2024-02-30" is not a valid date key. Pass a valid Date, or a "YYYY-MM-DD" string/,
    ],
    ['a day without leading zeros', { day: '2024-3-5' }, /is not a valid date key/],
    ['a day in another order', { day: '05/03/2024' }, /is not a valid date key/],
    ['an invalid Date', { day: new Date(NaN) }, /is not a valid date key/],
    [
      'an hour past 23',
      { at: '2024-03-05T25:00:00Z' },
      /column 'at' of entity DayRow is a timestamp, and .* is not a valid timestamp key. Pass a valid Date, or an ISO 8601 date-time string/,
    ],
    ['words', { at: 'yesterday' }, /is not a valid timestamp key/],
    ['an invalid Date instant', { at: new Date(NaN) }, /is not a valid timestamp key/],
    ['a fractional slot', { slot: 7.5 }, /column 'slot' of entity DayRow is an integer/],
    ...(typed
      ? [
          ['a slot beyond smallint', { slot: 40000 }, /from -32768 to 32767/] as [
            string,
            object,
            RegExp,
          ],
        ]
      : []),
  ])('rejects a composite key with %s', async (_name, part, message) => {
    const id = { day: '2024-03-05', at: new Date('2024-03-05T10:00:00.123Z'), slot: 7, ...part };
    await rejected('DayRow', id, 'hits', message);
  });

  it('keys decimals by value, and strings exactly as spelled', async () => {
    await oneRow(
      'PriceRow',
      [
        { price: '12.5', code: 'a' },
        { price: 12.5, code: 'a' },
        { price: '12.50', code: 'a' },
        { price: '012.500', code: 'a' },
        { price: '1.25e1', code: 'a' },
        { price: '+12.5', code: 'a' },
      ],
      'hits',
      hits('PriceRow', { price: '12.50', code: 'a' }),
    );
    // ' a' and 'A' are other rows in the database: the buffer keeps them apart.
    await t.buffer.increment('PriceRow', { price: 12.5, code: ' a' }, 'hits', 10);
    await t.buffer.increment('PriceRow', { price: 12.5, code: 'A' }, 'hits', 100);
    await t.buffer.increment('PriceRow', { price: 12.5, code: 'a' }, 'hits', 1000);
    expect((await t.buffer.stats()).pending.counters).toBe(3);
    expect(await t.buffer.flush()).toMatchObject({ incremented: 3, missing: [], deadLettered: 0 });
    expect(await hits('PriceRow', { price: '12.50', code: ' a' })()).toBe(10);
    expect(await hits('PriceRow', { price: '12.50', code: 'A' })()).toBe(100);
    expect(await hits('PriceRow', { price: '12.50', code: 'a' })()).toBe(1006);
  });

  it.each([
    [
      'a decimal that is not a number',
      { price: 'abc' },
      /column 'price' of entity PriceRow is a (decimal|number), and "abc" is not a valid/,
    ],
    ['an infinite decimal', { price: Infinity }, /is not a valid (decimal|number) key/],
    ['a decimal with blanks', { price: ' 12.5' }, /is not a valid (decimal|number) key/],
    ['an object for a string', { code: { a: 1 } }, /column 'code' of entity PriceRow is a string/],
    ...(typed
      ? ([
          [
            'a decimal beyond its precision',
            { price: '123456789' },
            /with at most 8 integer digits/,
          ],
        ] as Array<[string, object, RegExp]>)
      : []),
    ...(postgres
      ? ([['a NUL in a string', { code: 'a\u0000' }, /without NUL characters/]] as Array<
          [string, object, RegExp]
        >)
      : []),
  ])('rejects a key with %s', async (_name, part, message) => {
    await rejected('PriceRow', { price: 12.5, code: 'a', ...part }, 'hits', message);
  });
});
