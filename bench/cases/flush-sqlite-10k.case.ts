import { flushCase } from '../flush-throughput.js';

/** Flushes of 10,000 counters, updates and inserts on SQLite. */
export const flushSqlite10k = flushCase('sqlite', 10_000);
