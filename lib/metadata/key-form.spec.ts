import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { EntitySchema, type DataSource } from 'typeorm';
import { columnOf, metadataSource } from '../../test/support/entity-metadata.js';
import { columnKind } from './column-kind.js';
import {
  INVALID,
  addDecimal,
  addSingle,
  canonicalDecimal,
  canonicalInteger,
  canonicalUuid,
  decimalScale,
  foldAccents,
  ignoresCase,
  foldsAccents,
  keyForm,
  parseInstant,
} from './key-form.js';

const INT32 = { min: -(2n ** 31n), max: 2n ** 31n - 1n };
const INT64 = { min: -(2n ** 63n), max: 2n ** 63n - 1n };

describe('canonicalInteger', () => {
  it.each([
    [42, 42],
    ['42', 42],
    ['+42', 42],
    ['042', 42],
    ['-0', 0],
    [-0, 0],
    [42n, 42],
    ['-2147483648', -2147483648],
  ])('reads %p as %p', (value, expected) => {
    expect(Object.is(canonicalInteger(value, INT32), expected)).toBe(true);
  });

  it('keeps integers beyond 2^53 as exact decimal text', () => {
    expect(canonicalInteger('9007199254740993', INT64)).toBe('9007199254740993');
    expect(canonicalInteger(9007199254740993n, INT64)).toBe('9007199254740993');
    expect(canonicalInteger('-09223372036854775808', INT64)).toBe('-9223372036854775808');
  });

  it.each([
    ' 42',
    '42 ',
    '4.2e1',
    '42.0',
    '',
    '-',
    '0x2a',
    42.5,
    NaN,
    1e21,
    2 ** 53,
    '2147483648',
    true,
  ])('rejects %p', (value) => {
    expect(canonicalInteger(value, INT32)).toBeUndefined();
  });
});

describe('canonicalDecimal', () => {
  it.each([
    ['12.50', undefined, '12.5'],
    ['012.500', undefined, '12.5'],
    [12.5, undefined, '12.5'],
    ['1.25e1', undefined, '12.5'],
    ['-0.000', undefined, '0'],
    ['+.5', undefined, '0.5'],
    ['100', undefined, '100'],
    [1e21, undefined, '1000000000000000000000'],
    [1.5e-7, undefined, '0.00000015'],
    ['1.005', 2, '1.01'],
    ['-1.005', 2, '-1.01'],
    ['1.004', 2, '1'],
    ['99999999999999999999.1234567890123', undefined, '99999999999999999999.1234567890123'],
  ])('reads %p (scale %p) as %p', (value, scale, expected) => {
    expect(canonicalDecimal(value, scale)).toBe(expected);
  });

  it.each(['abc', '', '.', ' 1', '1e', Infinity, NaN, '1e5000'])('rejects %p', (value) => {
    expect(canonicalDecimal(value)).toBeUndefined();
  });

  it('rejects values with more integer digits than precision - scale', () => {
    expect(canonicalDecimal('12345678.99', 2, 10)).toBe('12345678.99');
    expect(canonicalDecimal('123456789', 2, 10)).toBeUndefined();
  });
});

describe('canonicalUuid', () => {
  const uuid = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11';
  it.each([
    'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
    '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}',
    'a0eebc999c0b4ef8bb6d6bb9bd380a11',
    'a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11',
  ])('reads %p as the lower-case hyphenated form', (value) => {
    expect(canonicalUuid(value)).toBe(uuid);
  });

  it.each([
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1',
    '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    'g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    42,
  ])('rejects %p', (value) => {
    expect(canonicalUuid(value)).toBeUndefined();
  });
});

describe('parseInstant', () => {
  const ms = Date.UTC(2024, 2, 5, 10, 0, 0, 123);
  it.each([
    '2024-03-05T10:00:00.123Z',
    '2024-03-05 10:00:00.123Z',
    '2024-03-05T12:00:00.123+02:00',
    '2024-03-05T05:00:00.123-05',
    '2024-03-05T15:30:00.123+0530',
    '2024-03-05t10:00:00.123z',
  ])('reads %p', (value) => {
    expect(parseInstant(value)).toEqual({ ms, ns: 0 });
  });

  it('keeps microseconds and nanoseconds beyond the millisecond', () => {
    expect(parseInstant('2024-03-05T10:00:00.123456789Z')).toEqual({ ms, ns: 456789 });
  });

  it('reads a string without an offset as local time, as TypeORM does', () => {
    expect(parseInstant('2024-03-05 10:00:00')?.ms).toBe(new Date(2024, 2, 5, 10).getTime());
  });

  it.each([
    '2024-02-30T00:00:00Z',
    '2024-03-05T24:00:00Z',
    'yesterday',
    '2024-3-5',
    new Date(NaN),
    42,
  ])('rejects %p', (value) => {
    expect(parseInstant(value)).toBeUndefined();
  });
});

describe('keyForm', () => {
  const Keys = new EntitySchema({
    name: 'Keys',
    columns: {
      id: { type: 'int', primary: true },
      small: { type: 'smallint' },
      big: { type: 'bigint' },
      price: { type: 'numeric', precision: 6, scale: 2 },
      real: { type: 'real' },
      flag: { type: 'boolean' },
      ref: { type: 'uuid' },
      email: { type: 'citext' },
      code: { type: 'char', length: 4 },
      name: { type: 'varchar', length: 20 },
      mood: { type: 'enum', enum: ['happy', 'sad'] },
      day: { type: 'date' },
      clock: { type: 'time' },
      stamp: { type: 'timestamptz' },
      place: { type: 'point' },
    },
  });
  const SqliteKeys = new EntitySchema({
    name: 'LiteKeys',
    columns: {
      id: { type: 'int', primary: true },
      flag: { type: 'boolean' },
      ref: { type: 'uuid' },
      plain: { type: 'varchar' },
      folded: { type: 'varchar', collation: 'NOCASE' },
      trimmed: { type: 'varchar', collation: 'RTRIM' },
      clock: { type: 'time' },
      stamp: { type: 'datetime' },
    },
  });
  const sources: Record<string, DataSource> = {};
  const closers: Array<() => Promise<void>> = [];
  beforeAll(async () => {
    for (const [kind, entity] of [
      ['postgres', Keys],
      ['sqlite', SqliteKeys],
    ] as const) {
      const { dataSource, close } = await metadataSource(kind, [entity]);
      sources[kind] = dataSource;
      closers.push(close);
    }
  });
  afterAll(async () => {
    for (const close of closers) await close();
  });

  /** The canonical key part of `value` in one column, or 'INVALID'. */
  function canonical(kind: 'postgres' | 'sqlite', property: string, value: unknown) {
    const dataSource = sources[kind];
    const entity = kind === 'postgres' ? Keys : SqliteKeys;
    const column = columnOf(dataSource, entity, property);
    const part = keyForm(dataSource, column, columnKind(dataSource, column)).canonical(value);
    return part === INVALID ? 'INVALID' : part;
  }

  it.each([
    ['postgres', 'id', '+042', 42],
    ['postgres', 'small', '-32768', -32768],
    ['postgres', 'small', 32768, 'INVALID'],
    ['postgres', 'big', '9223372036854775807', '9223372036854775807'],
    ['postgres', 'big', 9223372036854775807n, '9223372036854775807'],
    ['postgres', 'big', '9223372036854775808', 'INVALID'],
    ['postgres', 'price', '012.500', '12.5'],
    ['postgres', 'price', 12.505, '12.51'],
    ['postgres', 'price', '10000', 'INVALID'],
    ['postgres', 'real', '0.1', Math.fround(0.1)],
    ['postgres', 'real', -0, 0],
    ['postgres', 'flag', true, true],
    ['postgres', 'flag', 'true', 'INVALID'],
    [
      'postgres',
      'ref',
      '{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}',
      'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    ],
    ['postgres', 'email', 'Ada@Example.COM', 'ada@example.com'],
    ['postgres', 'email', 'ÉCOLE', 'INVALID'],
    ['postgres', 'email', '東京', '東京'],
    ['postgres', 'code', 'ab  ', 'ab'],
    ['postgres', 'name', 'ab  ', 'ab  '],
    ['postgres', 'name', 'Ab', 'Ab'],
    ['postgres', 'name', 42, '42'],
    ['postgres', 'name', 'a\u0000', 'INVALID'],
    ['postgres', 'mood', 'sad', 'sad'],
    ['postgres', 'mood', 'Sad', 'INVALID'],
    ['postgres', 'day', '2024-03-05', '2024-03-05'],
    ['postgres', 'day', '2024-02-30', 'INVALID'],
    ['postgres', 'day', '2024-3-5', 'INVALID'],
    ['postgres', 'clock', '10:00', '10:00:00'],
    ['postgres', 'clock', '10:00:00.500', '10:00:00.5'],
    ['postgres', 'clock', '24:00', 'INVALID'],
    ['postgres', 'stamp', '2024-03-05T12:00:00+02:00', '2024-03-05T10:00:00.000000Z'],
    ['postgres', 'stamp', new Date(Date.UTC(2024, 2, 5, 10)), '2024-03-05T10:00:00.000000Z'],
    ['postgres', 'stamp', '2024-03-05T10:00:00.1234567Z', '2024-03-05T10:00:00.123457Z'],
    ['postgres', 'stamp', '0000-01-01T00:00:00Z', 'INVALID'],
    ['postgres', 'place', '(1,2)', 'INVALID'],
    ['sqlite', 'flag', true, 1],
    ['sqlite', 'flag', false, 0],
    [
      'sqlite',
      'ref',
      'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
      'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
    ],
    ['sqlite', 'ref', 'a0eebc999c0b4ef8bb6d6bb9bd380a11', 'INVALID'],
    ['sqlite', 'plain', 'Ab ', 'Ab '],
    ['sqlite', 'folded', 'AbÉ', 'abÉ'],
    ['sqlite', 'trimmed', 'ab  ', 'ab'],
    ['sqlite', 'plain', 'a\u0000', 'a\u0000'],
    ['sqlite', 'clock', '10:00', '10:00'],
    ['sqlite', 'stamp', '2024-03-05T12:00:00.1239+02:00', '2024-03-05 10:00:00.123'],
  ] as Array<['postgres' | 'sqlite', string, unknown, unknown]>)(
    '%s %s reads %p as %p',
    (kind, property, value, expected) => {
      expect(canonical(kind, property, value)).toEqual(expected);
    },
  );

  it('names the type and the spellings it takes, for messages', () => {
    const dataSource = sources.postgres;
    const form = (property: string) => {
      const column = columnOf(dataSource, Keys, property);
      return keyForm(dataSource, column, columnKind(dataSource, column));
    };
    expect(form('small')).toMatchObject({
      type: 'an integer',
      expected: expect.stringMatching(/^an integer from -32768 to 32767: /),
    });
    expect(form('price').expected).toBe(
      'a finite number or a decimal string ("12.50", "-3", "1e3") with at most 4 integer digits',
    );
    expect(form('email').expected).toContain('for citext, letters with case must be ASCII');
    expect(form('mood').expected).toBe('one of "happy", "sad"');
    expect(form('place')).toMatchObject({ type: 'a point' });
  });
});

describe('foldAccents', () => {
  it('folds precomposed Latin letters with accents to their ASCII letter, in lower case', () => {
    expect(foldAccents('ÉLAN ëlån Ǘ ṩ')).toBe('eLAN elan u s');
  });

  it('keeps letters that are no accented ASCII letter, and marks typed separately', () => {
    expect(foldAccents('ø æ ß ı й 😀 e\u0301')).toBe('ø æ ß ı й 😀 e\u0301');
  });

  it.each([
    ['utf8mb4_general_ci', true],
    ['UTF8MB4_UNICODE_520_NOPAD_CI', true],
    ['utf8mb3_unicode_ci', true],
    ['utf8mb4_uca1400_nopad_ai_ci', true],
    ['utf8mb4_swedish_ci', false],
    ['latin1_swedish_ci', false],
    ['utf8mb4_bin', false],
    ['utf8mb4_0900_ai_ci', false],
    ['utf8mb4_uca1400_ai_cs', false],
  ])('%s folds accents: %s', (collation, folds) => {
    expect(foldsAccents(collation)).toBe(folds);
  });
});

describe('ignoresCase', () => {
  it.each([
    ['UTF8MB4_GENERAL_CI', true],
    ['utf8mb4_uca1400_as_ci', true],
    ['utf8mb4_cs_0900_ai_ci', true],
    [undefined, true],
    ['utf8mb4_bin', false],
    ['latin1_general_cs', false],
    ['utf8mb4_0900_as_cs', false],
    ['utf8mb4_ja_0900_as_cs_ks', false],
  ])('%s ignores letter case: %s', (collation, ignores) => {
    expect(ignoresCase(collation)).toBe(ignores);
  });
});

describe('addDecimal', () => {
  it.each([
    [0.1, 0.2, 2, 0.3],
    [1, -0.005, 2, 1],
    [1, -0.015, 2, 0.99],
    [0.125, 0, 2, 0.13],
    [-0.125, 0, 2, -0.13],
    [0.3, 0.30000000000000004, 2, 0.6],
    [2.5, 0, 0, 3],
    [1e21, 1, 0, 1e21 + 1],
    [0.1, 0.2, 20, 0.3],
  ])('adds %p and %p at scale %p as %p', (a, b, scale, sum) => {
    expect(addDecimal(a, b, scale)).toBe(sum);
  });
});

describe('keyForm on MariaDB', () => {
  const Stamps = new EntitySchema({
    name: 'Stamps',
    columns: {
      id: { type: 'int', primary: true },
      whole: { type: 'datetime' },
      milli: { type: 'datetime', precision: 3 },
      name: { type: 'varchar' },
      exact: { type: 'varchar', collation: 'utf8mb4_bin' },
      russian: { type: 'varchar', collation: 'cp1251_general_ci' },
      japanese: { type: 'varchar', collation: 'utf8mb4_ja_0900_as_cs_ks' },
    },
  });

  /** Checks that `value` in column `property` is keyed as `key`. */
  async function keyedAs(property: string, value: string, key: string) {
    const { dataSource, close } = await metadataSource('mariadb', [Stamps]);
    const column = columnOf(dataSource, Stamps, property);
    expect(keyForm(dataSource, column, columnKind(dataSource, column)).canonical(value)).toBe(key);
    await close();
  }

  it.each([
    ['name', 'ЁЛКА Дом', 'ёлка дом'],
    ['name', 'ΟΔΟΣ οδος', 'οδοσ οδοσ'],
    ['exact', 'ЁЛКА Дом', 'ЁЛКА Дом'],
    ['russian', 'ЁЛКА Дом', 'ЁЛКА Дом'],
    ['japanese', 'ЁЛКА Дом Ab', 'ЁЛКА Дом Ab'],
  ])(
    'folds the case of Greek and Cyrillic letters of %s only under a caseless utf8 collation',
    keyedAs,
  );

  it.each([
    ['whole', '2024-03-05 10:00:00.999', '2024-03-05 10:00:00.'],
    ['milli', '2024-03-05T10:00:00.1239', '2024-03-05 10:00:00.123'],
    ['milli', '1969-12-31T23:59:59.9999', '1969-12-31 23:59:59.999'],
  ])('cuts the fraction %s does not keep from %p, as MariaDB stores it', keyedAs);
});

describe('addSingle', () => {
  it.each([
    [0.1, 0.2, 'postgres', 0.3],
    [0.30000001, 0.1, 'postgres', 0.4],
    [16777216, 1, 'postgres', 16777216],
    [0, 0.1, 'postgres', 0.1],
    [1.43457, 0, 'mysql', 1.43457],
    [1.2345678, 0.2, 'mysql', 1.43457],
    [16777217, 0, 'mysql', 16777200],
  ] as const)('adds %p and %p on %s as %p', (a, b, dialect, sum) => {
    expect(addSingle(a, b, dialect)).toBe(sum);
  });
});

describe('decimalScale', () => {
  it.each([
    [{ precision: 10, scale: 2 }, 'postgres', 2],
    [{ precision: 10 }, 'postgres', 0],
    [{ scale: 2 }, 'postgres', undefined],
    [{}, 'postgres', undefined],
    [{ precision: 10, scale: 2 }, 'mysql', 2],
    [{ precision: 10 }, 'mysql', 0],
    [{ scale: 2 }, 'mysql', 0],
  ] as const)('keeps of %p on %s %p fraction digits', (column, dialect, scale) => {
    expect(decimalScale(column, dialect)).toBe(scale);
  });
});
