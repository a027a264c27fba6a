import { describe, expect, it } from '@jest/globals';
import {
  cellField,
  decodeCellField,
  decodeInsertItem,
  decodeParts,
  encodeBatch,
  insertItem,
} from './redis.entry-codec.js';

describe('Redis entry codec', () => {
  it.each(['[42]', '[-1]', '["eu",7]', '["a\\"b"]', '["back\\\\slash"]', '["\\u0000"]'])(
    'writes the cell field of %s as the JSON array [key, column]',
    (key) => {
      for (const column of ['views', 'a "quoted" column']) {
        expect(cellField(key, column)).toBe(JSON.stringify([key, column]));
        expect(decodeCellField(cellField(key, column))).toEqual([key, column]);
      }
    },
  );

  it('prefixes a keyed insert with its key and a newline, and reads both back', () => {
    const row = { id: 7, note: 'two\nlines', at: new Date(5) };
    expect(insertItem(row, '[7]')).toBe('[7]\n{"id":7,"note":"two\\nlines","at":{"$date":5}}');
    expect(decodeInsertItem(insertItem(row, '[7]'))).toEqual({ row, key: '[7]' });
    expect(insertItem({ postId: 1 }, null)).toBe('{"postId":1}');
    expect(decodeInsertItem('{"postId":1}')).toEqual({ row: { postId: 1 }, key: null });
  });

  it('reads claimed parts in key order, with table paths decoded', () => {
    const parts = decodeParts([
      'public.my%20table',
      ['[2]\n{"id":2}', '{"id":null}'],
      ['["[2]","views"]', '3', '["[1]","views"]', '1.5', '["[1]","likes"]', '-1'],
      ['["[1]","title"]', '"a"'],
    ]);
    expect(parts).toEqual([
      {
        table: 'public.my table',
        inserts: [{ id: 2 }, { id: null }],
        insertKeys: ['[2]', null],
        updates: [['[1]', { title: 'a' }]],
        counters: [
          ['[1]', { views: 1.5, likes: -1 }],
          ['[2]', { views: 3 }],
        ],
      },
    ]);
  });

  it('stores split parts as the claim scripts hold them', () => {
    const encoded = encodeBatch({
      id: 'b1',
      dataSource: 'default',
      tables: [
        {
          table: 'public.my table',
          inserts: [{ id: 2 }],
          insertKeys: ['[2]'],
          updates: [['[1]', { title: 'a' }]],
          counters: [['[1]', { views: 3 }]],
        },
      ],
    });
    expect(encoded).toEqual({
      id: 'b1',
      tables: [
        {
          table: 'public.my%20table',
          inserts: ['[2]\n{"id":2}'],
          counters: ['["[1]","views"]', '3'],
          updates: ['["[1]","title"]', '"a"'],
        },
      ],
    });
  });
});
