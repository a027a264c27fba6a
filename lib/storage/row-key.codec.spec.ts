import { describe, expect, it } from '@jest/globals';
import {
  decodeRowKey,
  decodeSingleRowKey,
  encodeIntegerRowKey,
  encodeRowKey,
} from './row-key.codec.js';

describe('row-key codec', () => {
  it.each([
    [[42], '[42]'],
    [[-7], '[-7]'],
    [[0], '[0]'],
    [['9007199254740993'], '["9007199254740993"]'],
    [['eu', 7], '["eu",7]'],
    [[true, 'x'], '[true,"x"]'],
  ])('encodes %p as %s (the stored form)', (values, key) => {
    expect(encodeRowKey(values)).toBe(key);
    expect(decodeRowKey(key)).toEqual(values);
  });

  it.each([
    [['a\u0000b']],
    [['line\nbreak', 'tab\tand "quotes" and \\']],
    [['ünïcødé', '🚀', '\u2028']],
    [['', 0]],
    [[1.5, -2.25]],
    [['-12345678901234567890', '00042']],
  ])('round-trips %j', (values) => {
    const key = encodeRowKey(values);
    expect(decodeRowKey(key)).toEqual(values);
    // What the Redis insert lists and cell fields rely on.
    expect(key.startsWith('[')).toBe(true);
    expect(key).not.toContain('\n');
  });

  it('gives one key per row and different keys to different rows', () => {
    expect(encodeRowKey(['eu', 7])).toBe(encodeRowKey(['eu', 7]));
    expect(encodeRowKey(['eu', 7])).not.toBe(encodeRowKey([7, 'eu']));
    expect(encodeRowKey(['eu', 7])).not.toBe(encodeRowKey(['eu', '7']));
    expect(encodeRowKey(['a,b'])).not.toBe(encodeRowKey(['a', 'b']));
    expect(encodeRowKey(['a\u0000b'])).not.toBe(encodeRowKey(['a', 'b']));
  });

  it('encodes a single integer as the JSON encoder does', () => {
    for (const id of [0, -0, 1, -1, 42, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]) {
      expect(encodeIntegerRowKey(id)).toBe(JSON.stringify([id]));
      expect(encodeRowKey([id])).toBe(JSON.stringify([id]));
    }
  });

  it.each([
    ['[42]', 42],
    ['[-3]', -3],
    ['["9007199254740993"]', '9007199254740993'],
    ['["abc"]', 'abc'],
    ['[true]', true],
    ['["-1"]', '-1'],
  ])('decodes the single value of %s', (key, value) => {
    expect(decodeSingleRowKey(key)).toBe(value);
  });
});
