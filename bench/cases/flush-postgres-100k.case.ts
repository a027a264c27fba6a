import { flushCase } from '../flush-throughput.js';

/** Flushes of 100,000 counters, updates and inserts on PostgreSQL. */
export const flushPostgres100k = flushCase('postgres', 100_000);
