import { flushCase } from '../flush-throughput.js';

/** Flushes of 10,000 counters, updates and inserts on MariaDB. */
export const flushMariadb10k = flushCase('mariadb', 10_000);
