import { flushMergeCase } from '../flush-merge.js';

/** Flush of 10,000 max-merged updates on SQLite, against last write wins. */
export const flushMergeSqlite10k = flushMergeCase('sqlite', 10_000);
