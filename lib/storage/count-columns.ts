/**
 * How many columns a stored row (or a row's deltas) names:
 * `Object.keys(row).length` without building the array, since the
 * memory storage and the dialects count them on every row of a flush.
 */
export function countColumns(row: object): number {
  let count = 0;
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  for (const _ in row) count++;
  return count;
}
