import { describe, expect, it } from '@jest/globals';
import type { ClaimedBatch } from '../storage/buffer-batch.interface.js';
import { batchEntries, batchOf, batchSize, claimFilled } from './batch-entries.js';

const batch: ClaimedBatch = {
  id: 'b1',
  dataSource: 'default',
  tables: [
    {
      table: 'post',
      inserts: [{ id: 1 }, { id: 2 }],
      insertKeys: [null, '[2]'],
      updates: [['[7]', { title: 'x' }]],
      counters: [
        ['[7]', { views: 3 }],
        ['[8]', { views: 1 }],
      ],
    },
    {
      table: 'user',
      inserts: [{ name: 'a' }],
      updates: [['[1]', { seen: 5 }]],
      counters: [],
    },
  ],
};

describe('batchEntries', () => {
  it('lists all inserts, then all updates, then all counters, across tables', () => {
    expect(batchEntries(batch)).toEqual([
      { table: 'post', kind: 'insert', row: { id: 1 }, key: null },
      { table: 'post', kind: 'insert', row: { id: 2 }, key: '[2]' },
      { table: 'user', kind: 'insert', row: { name: 'a' }, key: null },
      { table: 'post', kind: 'update', key: '[7]', values: { title: 'x' } },
      { table: 'user', kind: 'update', key: '[1]', values: { seen: 5 } },
      { table: 'post', kind: 'counter', key: '[7]', deltas: { views: 3 } },
      { table: 'post', kind: 'counter', key: '[8]', deltas: { views: 1 } },
    ]);
  });
});

describe('batchOf', () => {
  it('rebuilds the batch from all its entries', () => {
    const rebuilt = batchOf(batch, 'b2', batchEntries(batch));
    expect(rebuilt).toEqual({ ...batch, id: 'b2' });
  });

  it('keeps insert keys aligned with their rows, and leaves them out when none has one', () => {
    const entries = batchEntries(batch);
    expect(batchOf(batch, 'k', [entries[1], entries[0]]).tables[0]).toEqual({
      table: 'post',
      inserts: [{ id: 2 }, { id: 1 }],
      insertKeys: ['[2]', null],
      updates: [],
      counters: [],
    });
    expect(batchOf(batch, 'k', [entries[0], entries[1]]).tables[0].insertKeys).toEqual([
      null,
      '[2]',
    ]);
    expect(batchOf(batch, 'k', [entries[2]]).tables[0]).not.toHaveProperty('insertKeys');
  });
});

describe('batchSize', () => {
  it('counts each insert and each distinct row once', () => {
    // post: 2 inserts + rows [7], [8]; user: 1 insert + row [1].
    expect(batchSize(batch)).toBe(6);
  });
});

describe('claimFilled', () => {
  it('is filled when the tables sharing maxRows reach it', () => {
    expect(claimFilled(batch, 6)).toBe(true);
    expect(claimFilled(batch, 7)).toBe(false);
  });

  it('counts a table with a limit of its own against that limit only', () => {
    // post holds 4 entries, user 2.
    expect(claimFilled(batch, 3, { post: 4 })).toBe(true);
    expect(claimFilled(batch, 3, { post: 5 })).toBe(false);
    expect(claimFilled(batch, 2, { post: 5 })).toBe(true);
  });
});
