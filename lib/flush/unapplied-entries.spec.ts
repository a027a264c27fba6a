import { describe, expect, it } from '@jest/globals';
import type { BatchEntry } from './batch-entries.js';
import { deadLetterOf, missingRowOf } from './unapplied-entries.js';

const entity = {
  name: 'Post',
  keyObject: (key: string) => ({ id: (JSON.parse(key) as number[])[0] }),
};
const counter: BatchEntry = { table: 'post', kind: 'counter', key: '[7]', deltas: { views: 3 } };
const insert: BatchEntry = { table: 'post', kind: 'insert', row: { title: 'a' }, key: null };

describe('deadLetterOf', () => {
  it('gives the same failure found again the same id', () => {
    const first = deadLetterOf('default', entity, 'b1', counter, 3, 'refused');
    const again = deadLetterOf('default', undefined, 'b1', { ...counter }, 3, 'refused again');
    expect(again.id).toBe(first.id);
  });

  it('keeps the ids of letters already stored', () => {
    // Letters held in storage (and tests) carry ids computed this way:
    // sha1 of [batchId, position, table, kind, rowKey, payload], 24 hex digits.
    expect(deadLetterOf('default', entity, 'b1', counter, 3, 'x').id).toBe(
      '4f5e29ce30fc774801846c64',
    );
    expect(deadLetterOf('default', undefined, 'b1', insert, 0, 'x').id).toBe(
      'a0fde71378c5443d50a26c44',
    );
  });

  it('gives two identical inserts at different positions two ids', () => {
    const ids = [0, 1].map(
      (position) => deadLetterOf('default', entity, 'b1', insert, position, 'x').id,
    );
    expect(ids[0]).not.toBe(ids[1]);
  });

  it('gives the same write in another batch another id', () => {
    expect(deadLetterOf('default', entity, 'b1', counter, 0, 'x').id).not.toBe(
      deadLetterOf('default', entity, 'b2', counter, 0, 'x').id,
    );
  });

  it('describes the write, its row and its place in the batch', () => {
    const letter = deadLetterOf('default', entity, 'b1', counter, 12, 'refused');
    expect(letter).toEqual({
      id: letter.id,
      dataSource: 'default',
      table: 'post',
      entity: 'Post',
      error: 'refused',
      at: expect.any(Date),
      seq: 'b1#000012',
      kind: 'counter',
      payload: { views: 3 },
      rowKey: '[7]',
      key: { id: 7 },
    });
    const gone = deadLetterOf('default', undefined, 'b1', insert, 0, 'table gone');
    expect(gone.entity).toBe('post');
    expect(gone).not.toHaveProperty('rowKey');
    expect(gone).not.toHaveProperty('key');
  });
});

describe('missingRowOf', () => {
  it('names the entity, the row and the values that were not applied', () => {
    expect(missingRowOf('default', entity, { ...counter, position: 4 })).toEqual({
      dataSource: 'default',
      entity: 'Post',
      table: 'post',
      id: { id: 7 },
      kind: 'counter',
      values: { views: 3 },
    });
  });
});
