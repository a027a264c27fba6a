import { describe, expect, it } from '@jest/globals';
import type { ClaimedBatch } from '../storage/buffer-batch.interface.js';
import { batchEntries, type BatchEntry } from './batch-entries.js';
import { bisect, bisectionUnits } from './bisection.js';

const insert = (id: number): BatchEntry => ({
  table: 'post',
  kind: 'insert',
  row: { id },
  key: null,
});
const update = (key: string, values = { title: 'x' }): BatchEntry => ({
  table: 'post',
  kind: 'update',
  key,
  values,
});
const counter = (key: string, table = 'post'): BatchEntry => ({
  table,
  kind: 'counter',
  key,
  deltas: { views: 1 },
});

describe('bisectionUnits', () => {
  it('keeps each insert alone, even two identical ones', () => {
    expect(bisectionUnits([insert(1), insert(1), insert(2)])).toEqual([
      [insert(1)],
      [insert(1)],
      [insert(2)],
    ]);
  });

  it("keeps a row's update with the increments after it", () => {
    const entries = [update('[1]'), update('[2]'), counter('[2]'), counter('[1]')];
    expect(bisectionUnits(entries)).toEqual([
      [update('[1]'), counter('[1]')],
      [update('[2]'), counter('[2]')],
    ]);
  });

  it('keeps rows of the same key in different tables apart', () => {
    expect(bisectionUnits([counter('[1]', 'post'), counter('[1]', 'user')])).toEqual([
      [counter('[1]', 'post')],
      [counter('[1]', 'user')],
    ]);
  });
});

describe('bisect', () => {
  const batch: ClaimedBatch = {
    id: 'b1',
    dataSource: 'default',
    tables: [
      {
        table: 'post',
        inserts: [{ id: 1 }, { id: 2 }],
        updates: [['[7]', { title: 'x' }]],
        counters: [['[7]', { views: 3 }]],
      },
    ],
  };

  it('cuts between units, the first half the larger, each half with its own id', () => {
    const parts = bisect(batch, batchEntries(batch))!;
    expect(parts.map((part) => part.id)).toEqual(['b1/0', 'b1/1']);
    // Three units (two inserts, one row): two go first.
    expect(parts[0].tables).toEqual([
      { table: 'post', inserts: [{ id: 1 }, { id: 2 }], updates: [], counters: [] },
    ]);
    expect(parts[1].tables).toEqual([
      {
        table: 'post',
        inserts: [],
        updates: [['[7]', { title: 'x' }]],
        counters: [['[7]', { views: 3 }]],
      },
    ]);
  });

  it('gives null for a single unit: the offending write itself', () => {
    const row = batchEntries(batch).filter((entry) => entry.kind !== 'insert');
    expect(bisect(batch, row)).toBeNull();
    expect(bisect(batch, [insert(1)])).toBeNull();
  });
});
