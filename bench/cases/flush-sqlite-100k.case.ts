import { flushCase } from '../flush-throughput.js';

/** Flushes of 100,000 counters, updates and inserts on SQLite. */
export const flushSqlite100k = flushCase('sqlite', 100_000);
