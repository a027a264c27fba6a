import { flushCase } from '../flush-throughput.js';

/** Flushes of 100,000 counters, updates and inserts on MariaDB. */
export const flushMariadb100k = flushCase('mariadb', 100_000);
