import { describe, expect, it } from '@jest/globals';
import type { CellLayer } from './buffer-batch.interface.js';
import { foldCell } from './cell-layers.js';

const none = new Set<string>();
const zero = { absent: 0, inserted: () => 0, upserts: false };
const delta = (by: number, batchId?: string): CellLayer => ({ batchId, isSet: false, delta: by });

describe('foldCell', () => {
  it('adds the deltas of every layer not applied yet to what the database holds', () => {
    expect(foldCell('10', true, [delta(2, 'b1'), delta(3)], none, zero)).toBe(15);
    expect(foldCell(10, true, [delta(2, 'b1'), delta(3)], new Set(['b1']), zero)).toBe(13);
    // NULL counts from 0.
    expect(foldCell(null, true, [delta(3)], none, zero)).toBe(3);
  });

  it('starts over at a set, then adds the increments after it', () => {
    const set: CellLayer = { isSet: true, value: 100, delta: 1 };
    expect(foldCell('10', true, [delta(5, 'b1'), set, delta(2)], none, zero)).toBe(103);
  });

  it('takes the first insert of a row that does not exist, with the default for a left-out column', () => {
    const insert = (value?: number, batchId?: string): CellLayer => ({
      batchId,
      inserted: true,
      isSet: true,
      value,
      delta: 0,
    });
    expect(foldCell(null, false, [insert(7, 'b1'), insert(9), delta(1)], none, zero)).toBe(8);
    expect(
      foldCell(null, false, [insert(undefined), delta(1)], none, { ...zero, inserted: () => 40 }),
    ).toBe(41);
    // The row exists: its inserts change nothing.
    expect(foldCell('3', true, [insert(7), delta(1)], none, zero)).toBe(4);
    // The batch holding the insert was applied: the database row is its result.
    expect(foldCell('7', true, [insert(7, 'b1'), delta(1)], new Set(['b1']), zero)).toBe(8);
  });

  it('starts a missing row of an upserted entity at its default, and an upsert creates it before a later insert', () => {
    const upsert = { absent: 5, inserted: () => 5, upserts: true };
    const insert = (value: number): CellLayer => ({ inserted: true, isSet: true, value, delta: 0 });
    expect(foldCell(null, false, [delta(3)], none, upsert)).toBe(8);
    expect(foldCell(null, false, [delta(3, 'b1'), insert(10)], none, upsert)).toBe(8);
  });
});
