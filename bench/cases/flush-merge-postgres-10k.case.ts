import { flushMergeCase } from '../flush-merge.js';

/** Flush of 10,000 max-merged updates on PostgreSQL, against last write wins. */
export const flushMergePostgres10k = flushMergeCase('postgres', 10_000);
