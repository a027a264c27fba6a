import { describe, expect, it } from '@jest/globals';
import { tableId, tableIdOf } from './table-id.js';

describe('tableId', () => {
  it('names one (data source, table) pair whatever characters the names hold', () => {
    const pairs: Array<[string, string]> = [
      ['default', 'post'],
      ['default', 'public.post'],
      ['a\u0000b', 'c'],
      ['a', 'b\u0000c'],
      ['a:b', 'c'],
      ['a', 'b:c'],
      ['', 'ab'],
      ['ab', ''],
      ['x","y', 'z'],
      ['x', '","yz'],
    ];
    const ids = pairs.map(([dataSource, table]) => tableId(dataSource, table));
    expect(new Set(ids).size).toBe(pairs.length);
    ids.forEach((id, i) => expect(JSON.parse(id)).toEqual(pairs[i]));
  });

  it('is the same for a target and for its names', () => {
    expect(tableIdOf({ dataSource: 'default', table: 'post' })).toBe(tableId('default', 'post'));
  });
});
