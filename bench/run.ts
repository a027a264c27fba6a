/**
 * `npm run bench [-- --quick] [--only <id>[,<id>…]]`: the library's
 * performance figures, each a ratio against a raw baseline measured in the
 * same run (machines here are shared and noisy, so absolute numbers mean
 * little). Each figure is the median of several samples, with min–max.
 * One case per file in bench/cases/; `--only` takes a case id, a row id or
 * the start of one. Writes bench/results/<row id>.json and summary.json.
 */
import { join } from 'node:path';
import { mariadbAvailable, postgresAvailable } from '../test/support/databases.js';
import { redisAvailable } from '../test/support/storages.js';
import type { BenchCase, BenchServer } from './bench-case.js';
import { describe, table, toResult, writeResults, type BenchResult } from './bench-results.js';
import { flushMariadb100k } from './cases/flush-mariadb-100k.case.js';
import { flushMergePostgres10k } from './cases/flush-merge-postgres-10k.case.js';
import { flushMergeSqlite10k } from './cases/flush-merge-sqlite-10k.case.js';
import { flushMariadb10k } from './cases/flush-mariadb-10k.case.js';
import { flushPostgres100k } from './cases/flush-postgres-100k.case.js';
import { flushPostgres10k } from './cases/flush-postgres-10k.case.js';
import { flushSqlite100k } from './cases/flush-sqlite-100k.case.js';
import { flushSqlite10k } from './cases/flush-sqlite-10k.case.js';
import {
  flushUpsertMariadb10k,
  flushUpsertPostgres10k,
  flushUpsertSqlite10k,
} from './cases/flush-upsert-10k.case.js';
import { getManyPostgres, getManyRedis, getManySqlite } from './cases/get-many.case.js';
import { heapPerCounter } from './cases/heap-per-counter.case.js';
import { httpMariadb } from './cases/http-mariadb.case.js';
import { httpPostgres } from './cases/http-postgres.case.js';
import { httpSqlite } from './cases/http-sqlite.case.js';
import { httpWorkers } from './cases/http-workers.case.js';
import { journalIncrement } from './cases/journal-increment.case.js';
import { lmdbIncrement } from './cases/lmdb-increment.case.js';
import { memoryIncrement } from './cases/memory-increment.case.js';
import { metricsOverhead } from './cases/metrics-overhead.case.js';
import { redisIncrement } from './cases/redis-increment.case.js';

/** Every case, in the order of the results table. */
const CASES: BenchCase[] = [
  httpSqlite,
  httpPostgres,
  httpMariadb,
  memoryIncrement,
  metricsOverhead,
  journalIncrement,
  redisIncrement,
  lmdbIncrement,
  httpWorkers,
  flushSqlite10k,
  flushPostgres10k,
  flushSqlite100k,
  flushPostgres100k,
  flushMariadb10k,
  flushMariadb100k,
  flushUpsertSqlite10k,
  flushUpsertPostgres10k,
  flushUpsertMariadb10k,
  flushMergeSqlite10k,
  flushMergePostgres10k,
  heapPerCounter,
  getManySqlite,
  getManyPostgres,
  getManyRedis,
];

/** Whether `id` (a case id) is asked for by one of `only` (case ids, row ids, or their starts). */
const selected = (id: string, only: string[]) =>
  only.some((o) => id.startsWith(o) || o.startsWith(`${id}-`));

async function main() {
  const started = Date.now();
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const only = args.includes('--only') ? args[args.indexOf('--only') + 1].split(',') : [];
  const cases = only.length
    ? CASES.filter((c) => selected(c.id, only))
    : CASES.filter((c) => !(quick && c.slow));
  if (only.length && !cases.length)
    throw new Error(`--only ${only.join(',')}: no case; ids: ${CASES.map((c) => c.id).join(', ')}`);

  const needed = new Set(cases.flatMap((c) => c.requires));
  const available: Record<BenchServer, boolean> = {
    postgres: needed.has('postgres') && (await postgresAvailable()),
    redis: needed.has('redis') && (await redisAvailable()),
    mariadb: needed.has('mariadb') && (await mariadbAvailable()),
  };
  const results: BenchResult[] = [];
  const bench = {
    quick,
    samples: quick ? 3 : 7,
    record(row: Parameters<typeof toResult>[0]) {
      const result = toResult(row);
      results.push(result);
      console.log(describe(row, result));
    },
  };
  for (const [i, c] of cases.entries()) {
    process.stdout.write(`[${i + 1}/${cases.length}] ${c.id}: ${c.title} `);
    const missing = c.requires.filter((server) => !available[server]);
    if (missing.length) {
      console.log(`\n  SKIPPED: needs ${missing.join(' and ')} (eval "$(test/servers.sh start)")`);
      continue;
    }
    await c.run(bench);
    console.log();
  }
  writeResults(join(process.cwd(), 'bench', 'results'), results, only.length > 0);
  console.log(`\n${table(results)}`);
  console.log(
    `\n${quick ? 'quick ' : ''}bench finished in ${Math.round((Date.now() - started) / 1000)} s`,
  );
}

await main();
