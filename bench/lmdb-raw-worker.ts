/**
 * One process of the raw lmdb-js ceiling rows (see
 * bench/cases/lmdb-increment.case.ts): no library, only lmdb-js opened as
 * the shared storage opens it. Prints `READY`, then for each `go <ops>`
 * line on stdin runs `<ops>` writes from 64 awaiting callers over 1,000
 * rows and prints `DONE`. `MODE` is `rmw` (a transaction reads the row's
 * JSON, adds 1 and writes it back, the least any read-modify-write storage
 * does) or `put` (the row is overwritten without being read, the least any
 * write does); each write is on disk before its caller goes on, unless
 * `COMMITTED` is set (then committed is enough, as for `relaxed`).
 */
import { createInterface } from 'node:readline';
import { open } from 'lmdb';
import { concurrent } from './measure.js';

const CALLERS = 64;
const ROWS = 1000;

const db = open<string, Array<string | number>>({
  path: process.env.LMDB_PATH!,
  compression: false,
  encoding: 'string',
});
const rmw = process.env.MODE === 'rmw';
const committed = process.env.COMMITTED !== undefined;

async function write(row: number): Promise<void> {
  const key = ['p', 'default', 'post', row];
  if (rmw) {
    await db.transaction(() => {
      const text = db.get(key);
      const state = (text === undefined ? {} : JSON.parse(text)) as {
        deltas?: Record<string, number>;
      };
      const deltas = (state.deltas ??= {});
      deltas.views = (deltas.views ?? 0) + 1;
      void db.put(key, JSON.stringify(state));
    });
  } else {
    await db.put(key, '{"deltas":{"views":1}}');
  }
  if (!committed) await db.flushed;
}

console.log('READY');
for await (const line of createInterface({ input: process.stdin })) {
  const ops = Number(line.split(' ')[1]);
  await concurrent(CALLERS, ops, (i) => write((i % ROWS) + 1));
  console.log('DONE');
}
await db.close();
process.exit(0);
