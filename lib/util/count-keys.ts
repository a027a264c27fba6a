/** `Object.keys(object).length` without building the array. */
export function countKeys(object: object): number {
  let count = 0;
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  for (const _ in object) count++;
  return count;
}
