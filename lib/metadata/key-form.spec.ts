import { describe, expect, it } from '@jest/globals';
import { canonicalDecimal, canonicalInteger, canonicalUuid, parseInstant } from './key-form.js';

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
