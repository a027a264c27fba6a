import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { EntitySchema, type DataSource } from 'typeorm';
import { columnOf, metadataSource } from '../../test/support/entity-metadata.js';
import { columnKind } from './column-kind.js';
import { valueForm } from './value-form.js';

const INTEGER_RANGE = (min: string, max: string) =>
  `an integer from ${min} to ${max} (a safe integer number, a bigint, or a string of decimal digits; ` +
  `pass integers beyond 2^53 as strings or bigints)`;

const Values = new EntitySchema({
  name: 'Values',
  columns: {
    id: { type: 'int', primary: true },
    small: { type: 'smallint' },
    count: { type: 'int' },
    big: { type: 'bigint' },
    price: { type: 'numeric', precision: 5, scale: 2 },
    ratio: { type: 'double precision' },
    flag: { type: 'boolean' },
    day: { type: 'date' },
    stamp: { type: 'timestamptz' },
    name: { type: 'varchar', length: 20 },
    ref: { type: 'uuid' },
    mood: { type: 'enum', enum: ['happy', 'sad'] },
    tags: { type: 'simple-array' },
    bytes: { type: 'bytea' },
    doc: { type: 'jsonb' },
    scores: { type: 'int', array: true },
    days: { type: 'date', array: true },
    blobs: { type: 'bytea', array: true },
  },
});

/** The value `check` returns, or the message it fails with. */
function checked(dataSource: DataSource, property: string, value: unknown): unknown {
  const column = columnOf(dataSource, Values, property);
  const form = valueForm(dataSource, column, columnKind(dataSource, column));
  try {
    return form.check(value, (expected) => {
      throw new Error(expected);
    });
  } catch (error) {
    return `refused: ${(error as Error).message}`;
  }
}

describe('valueForm on postgres', () => {
  let dataSource: DataSource;
  beforeAll(async () => {
    ({ dataSource } = await metadataSource('postgres', [Values]));
  });

  it.each([
    ['small', 32767, 32767],
    ['count', '42', 42],
    ['count', 7n, 7],
    ['big', '9007199254740993', '9007199254740993'],
    ['price', '123.45', '123.45'],
    ['price', 1.5, 1.5],
    ['ratio', '1.5', '1.5'],
    ['ratio', -2, -2],
    ['flag', false, false],
    ['day', '2024-03-05', '2024-03-05'],
    ['stamp', '2024-03-05T10:00:00Z', '2024-03-05T10:00:00Z'],
    ['name', 'ada', 'ada'],
    ['ref', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'],
    ['mood', 'sad', 'sad'],
    ['tags', ['a', 'b c'], ['a', 'b c']],
    ['doc', { a: [1] }, { a: [1] }],
    [
      'scores',
      [
        [1, 2],
        [3, null],
      ],
      [
        [1, 2],
        [3, null],
      ],
    ],
    ['days', [new Date(Date.UTC(2024, 2, 5)), '2024-03-06'], ['2024-03-05', '2024-03-06']],
    ['blobs', [Buffer.from('hi')], ['\\x6869']],
  ])('%s accepts %p as %p', (property, value, expected) => {
    expect(checked(dataSource, property, value)).toEqual(expected);
  });

  it('keeps a Date and a Buffer as they are', () => {
    const date = new Date();
    const bytes = Buffer.from('x');
    expect(checked(dataSource, 'stamp', date)).toBe(date);
    expect(checked(dataSource, 'bytes', bytes)).toBe(bytes);
  });

  it.each([
    ['small', 32768, INTEGER_RANGE('-32768', '32767')],
    ['count', 1.5, INTEGER_RANGE('-2147483648', '2147483647')],
    ['big', 2 ** 53, INTEGER_RANGE('-9223372036854775808', '9223372036854775807')],
    [
      'price',
      '1234.5',
      'a finite number or a decimal string with at most 3 digits before the decimal point',
    ],
    [
      'price',
      'abc',
      'a finite number or a decimal string with at most 3 digits before the decimal point',
    ],
    ['ratio', Infinity, 'a finite number'],
    ['ratio', '1,5', 'a finite number'],
    ['flag', 'true', 'a boolean'],
    ['stamp', 'yesterday', 'a valid Date (or a date string)'],
    ['stamp', new Date(NaN), 'a valid Date (or a date string)'],
    ['day', 20240305, 'a valid Date (or a date string)'],
    ['name', 42, 'a string'],
    ['name', 'a\u0000b', 'a string without NUL characters (PostgreSQL text cannot hold them)'],
    ['ref', 'not-a-uuid', 'a uuid string such as "123e4567-e89b-12d3-a456-426614174000"'],
    ['mood', 'angry', 'one of "happy", "sad"'],
    ['tags', ['a,b'], 'an array of non-empty strings without commas (a simple-array column)'],
    ['tags', [''], 'an array of non-empty strings without commas (a simple-array column)'],
    ['bytes', 'hi', 'a Buffer'],
    ['scores', 1, 'an array'],
    ['scores', [[1, 2], [3]], 'a rectangular array (sub-arrays of matching dimensions)'],
    ['scores', ['x'], INTEGER_RANGE('-2147483648', '2147483647')],
    ['days', ['2024-02-30'], 'a date (a valid Date, or a "YYYY-MM-DD" string)'],
  ])('%s refuses %p: expected %s', (property, value, expected) => {
    expect(checked(dataSource, property, value)).toBe(`refused: ${expected}`);
  });

  it('prepares an array as its JSON text and a scalar as TypeORM does', () => {
    const scores = columnOf(dataSource, Values, 'scores');
    const tags = columnOf(dataSource, Values, 'tags');
    expect(valueForm(dataSource, scores, 'integer').prepare([1, 2])).toBe('[1,2]');
    expect(valueForm(dataSource, tags, 'list').prepare(['a', 'b'])).toBe('a,b');
  });
});

describe('valueForm on sqlite', () => {
  const Row = new EntitySchema({
    name: 'Row',
    columns: {
      id: { type: 'int', primary: true },
      count: { type: 'integer' },
      price: { type: 'decimal', precision: 5, scale: 2 },
      ref: { type: 'uuid' },
      name: { type: 'varchar' },
    },
  });
  let dataSource: DataSource;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ dataSource, close } = await metadataSource('sqlite', [Row]));
  });
  afterAll(() => close());

  const check = (property: string, value: unknown) => {
    const column = columnOf(dataSource, Row, property);
    return valueForm(dataSource, column, columnKind(dataSource, column)).check(
      value,
      (expected) => {
        throw new Error(expected);
      },
    );
  };

  it('takes 64-bit integers, and NUL characters in text', () => {
    expect(check('count', '9223372036854775807')).toBe('9223372036854775807');
    expect(() => check('count', '9223372036854775808')).toThrow(
      INTEGER_RANGE('-9223372036854775808', '9223372036854775807'),
    );
    expect(check('name', 'a\u0000b')).toBe('a\u0000b');
  });

  it('keeps a uuid as spelled (SQLite compares text), and takes decimals without a digit limit', () => {
    expect(check('ref', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11')).toBe(
      'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
    );
    expect(() => check('ref', '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}')).toThrow('a uuid string');
    expect(check('price', '123456.789')).toBe('123456.789');
  });
});
