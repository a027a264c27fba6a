/**
 * One process of a multi-process increment bench (see
 * bench/increment-processes.ts). Opens the test app on a fresh SQLite
 * database with the storage in the `STORAGE` environment variable (JSON
 * options), prints `READY`, then for each `go <ops>` line on stdin runs
 * `<ops>` increments from 64 awaiting callers over 1,000 rows and prints
 * `DONE`. Closes when stdin ends.
 */
import { createInterface } from 'node:readline';
import type { WriteBufferStorageOptions } from '../lib/index.js';
import { Post } from '../test/support/entities.js';
import { benchContext } from './bench-context.js';
import { concurrent } from './measure.js';

const CALLERS = 64;
const ROWS = 1000;

const storage = JSON.parse(process.env.STORAGE!) as WriteBufferStorageOptions;
const ctx = await benchContext('sqlite', storage);
console.log('READY');
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const ops = Number(line.split(' ')[1]);
  await concurrent(CALLERS, ops, (i) => ctx.buffer.increment(Post, (i % ROWS) + 1, 'views'));
  console.log('DONE');
}
// The rows do not exist: the final flush only reports them missing.
await ctx.close().catch(() => undefined);
process.exit(0);
