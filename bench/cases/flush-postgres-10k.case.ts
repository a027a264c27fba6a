import { flushCase } from '../flush-throughput.js';

/** Flushes of 10,000 counters, updates and inserts on PostgreSQL. */
export const flushPostgres10k = flushCase('postgres', 10_000);
