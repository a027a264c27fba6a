import { describe, expect, it } from '@jest/globals';
import type { BatchEntry } from './batch-entries.js';
import { checkSchema } from './schema-check.js';

const post = {
  name: 'Post',
  hasColumn: (column: string) => ['id', 'title', 'views'].includes(column),
};
const entityOf = (table: string) => (table === 'post' ? post : undefined);

describe('checkSchema', () => {
  it('keeps what the schema still takes', () => {
    const entries: BatchEntry[] = [
      { table: 'post', kind: 'insert', row: { id: 1, title: 'a' }, key: null },
      { table: 'post', kind: 'counter', key: '[1]', deltas: { views: 2 } },
    ];
    expect(checkSchema('default', entries, entityOf)).toEqual({ kept: entries, stale: [] });
  });

  it('sets aside every write to a table that is no entity any more', () => {
    const entry: BatchEntry = { table: 'gone', kind: 'counter', key: '[1]', deltas: { n: 1 } };
    expect(checkSchema('default', [entry], entityOf)).toEqual({
      kept: [],
      stale: [
        {
          entry,
          position: 0,
          problem: "table 'gone' is not an entity of data source 'default' any more",
        },
      ],
    });
  });

  it('sets aside a whole insert naming a removed column', () => {
    const insert: BatchEntry = { table: 'post', kind: 'insert', row: { id: 1, old: 2 }, key: null };
    const { kept, stale } = checkSchema('default', [insert], entityOf);
    expect(kept).toEqual([]);
    expect(stale).toEqual([
      {
        entry: insert,
        position: 0,
        problem: "column 'old' is not a column of entity Post any more",
      },
    ]);
  });

  it('takes only the removed columns out of an update or counter', () => {
    const entries: BatchEntry[] = [
      { table: 'post', kind: 'update', key: '[1]', values: { title: 'x', old: 1, older: 2 } },
      { table: 'post', kind: 'counter', key: '[1]', deltas: { views: 1, old: 3 } },
      { table: 'post', kind: 'counter', key: '[2]', deltas: { old: 4 } },
    ];
    const { kept, stale } = checkSchema('default', entries, entityOf);
    expect(kept).toEqual([
      { table: 'post', kind: 'update', key: '[1]', values: { title: 'x' } },
      { table: 'post', kind: 'counter', key: '[1]', deltas: { views: 1 } },
    ]);
    expect(stale).toEqual([
      {
        entry: { table: 'post', kind: 'update', key: '[1]', values: { old: 1, older: 2 } },
        position: 0,
        problem: "columns 'old', 'older' are not a column of entity Post any more",
      },
      {
        entry: { table: 'post', kind: 'counter', key: '[1]', deltas: { old: 3 } },
        position: 1,
        problem: "column 'old' is not a column of entity Post any more",
      },
      {
        entry: entries[2],
        position: 2,
        problem: "column 'old' is not a column of entity Post any more",
      },
    ]);
  });
});
