import { describe, expect, it } from '@jest/globals';
import { mergeWins, setColumns, type RowState } from './row-state.js';

const max = (rank: number | null) => ({ rule: 'max' as const, rank });
const min = (rank: number | null) => ({ rule: 'min' as const, rank });

describe('mergeWins', () => {
  it.each([
    [max(5), 3, true],
    [max(3), 5, false],
    [max(5), 5, false],
    [min(3), 5, true],
    [min(5), 3, false],
    [max(1), null, true],
    [max(1), undefined, true],
    [max(null), 3, false],
    [max(null), undefined, false],
  ])('%j over a held rank of %p: %p', (merge, held, wins) => {
    expect(mergeWins(merge, held)).toBe(wins);
  });
});

describe('setColumns with merges', () => {
  it('keeps the greatest value of a max column and the last of the others', () => {
    const row: RowState = {};
    setColumns(row, { seen: 'b', name: 'first' }, false, { seen: max(2) });
    setColumns(row, { seen: 'a', name: 'second' }, false, { seen: max(1) });
    expect(row.set).toEqual({ seen: 'b', name: 'second' });
    setColumns(row, { seen: 'c' }, false, { seen: max(3) });
    expect(row).toMatchObject({ set: { seen: 'c' }, ranks: { seen: 3 } });
  });

  it('never replaces a value by NULL, and replaces a NULL by a value', () => {
    const row: RowState = {};
    setColumns(row, { seen: null }, false, { seen: min(null) });
    setColumns(row, { seen: 'x' }, false, { seen: min(9) });
    setColumns(row, { seen: null }, false, { seen: min(null) });
    expect(row).toMatchObject({ set: { seen: 'x' }, ranks: { seen: 9 } });
  });

  it('lets a merged write replace a value set without a rank', () => {
    const row: RowState = {};
    setColumns(row, { seen: 'ranked' }, false, { seen: max(5) });
    setColumns(row, { seen: 'unranked' }, true);
    expect(row.ranks).toEqual({});
    setColumns(row, { seen: 'lower' }, false, { seen: max(1) });
    expect(row).toMatchObject({ set: { seen: 'lower' }, ranks: { seen: 1 } });
  });
});
