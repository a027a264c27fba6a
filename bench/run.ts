/**
 * `npm run bench [-- --quick] [--only '#4']`: the library's performance figures, each a
 * ratio against a raw baseline measured in the same run (machines here are
 * shared and noisy, so absolute numbers mean little). Each figure is the
 * median of several samples, with min–max. Writes bench/results/<name>.json
 * and bench/results/summary.json.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { open } from 'lmdb';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import {
  ActivityLog,
  benchContext,
  Post,
  POSTGRES_URL,
  postgresUp,
  REDIS_URL,
  seedRows,
  User,
} from './bench-context.js';

const quick = process.argv.includes('--quick');
const SAMPLES = quick ? 3 : 7;
const results: Result[] = [];

interface Sample {
  median: number;
  min: number;
  max: number;
}
interface Result {
  id: number;
  name: string;
  unit: string;
  value: number;
  baseline: number | null;
  ratio: number | null;
  target: string;
  met: boolean | null;
  /** What else the figure needs to be read right. */
  note?: string;
  samples: { value: Sample; baseline?: Sample };
}

function stats(values: number[]): Sample {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    median: sorted[Math.floor(sorted.length / 2)],
    min: sorted[0],
    max: sorted[sorted.length - 1],
  };
}

/** Runs `measure` SAMPLES times. */
async function sample(measure: () => Promise<number>): Promise<Sample> {
  const values: number[] = [];
  for (let i = 0; i < SAMPLES; i++) values.push(await measure());
  return stats(values);
}

/**
 * Runs `value` and `baseline` alternately, `samples` times each, after
 * `warmup` unrecorded rounds (short measurements are at the mercy of the
 * JIT and the GC: they get more of both).
 */
async function compare(
  measure: { value: () => Promise<number>; baseline: () => Promise<number> },
  { samples = SAMPLES, warmup = 0 } = {},
) {
  const values: number[] = [];
  const baselines: number[] = [];
  for (let i = 0; i < warmup + samples; i++) {
    const baseline = await measure.baseline();
    const value = await measure.value();
    if (i < warmup) continue;
    baselines.push(baseline);
    values.push(value);
    process.stdout.write('.');
  }
  return { value: stats(values), baseline: stats(baselines) };
}

function record(
  id: number,
  name: string,
  unit: string,
  s: { value: Sample; baseline?: Sample },
  target: number | null,
  higherIsBetter = true,
  note?: string,
) {
  const ratio = s.baseline ? s.value.median / s.baseline.median : null;
  const met =
    target === null || ratio === null ? null : higherIsBetter ? ratio >= target : ratio <= target;
  const result: Result = {
    id,
    name,
    unit,
    value: round(s.value.median),
    baseline: s.baseline ? round(s.baseline.median) : null,
    ratio: ratio === null ? null : round(ratio, 3),
    target: target === null ? '—' : `${higherIsBetter ? '≥' : '≤'} ${target}×`,
    met,
    ...(note && { note }),
    samples: s,
  };
  results.push(result);
  const range = (x: Sample) => `${fmt(x.median)} [${fmt(x.min)}–${fmt(x.max)}]`;
  console.log(
    `\n  #${id} ${name}: ${range(s.value)} ${unit}` +
      (s.baseline
        ? ` vs baseline ${range(s.baseline)} → ${ratio!.toFixed(3)}× (target ${result.target}) ${met ? 'MET' : 'NOT MET'}`
        : '') +
      (note ? `\n     ${note}` : ''),
  );
}

const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;
const fmt = (x: number) =>
  x >= 100 || Number.isInteger(x) ? Math.round(x).toLocaleString('en-US') : x.toFixed(2);
const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;

/** #3: BufferService.increment on the memory storage vs a raw Map loop. */
async function memoryIncrement() {
  const ctx = await benchContext('sqlite');
  const ops = quick ? 200_000 : 500_000;
  const s = await compare({
    value: async () => {
      const start = process.hrtime.bigint();
      for (let i = 0; i < ops; i++) await ctx.buffer.increment(Post, (i % 1000) + 1, 'views');
      const rate = ops / seconds(start);
      await ctx.buffer.flush().catch(() => undefined); // rows do not exist: reported as missing
      return rate;
    },
    baseline: async () => {
      const map = new Map<string, number>();
      const start = process.hrtime.bigint();
      for (let i = 0; i < ops; i++) {
        const key = `post:${(i % 1000) + 1}:views`;
        map.set(key, (map.get(key) ?? 0) + 1);
      }
      return ops / seconds(start);
    },
  });
  record(3, 'BufferService.increment, memory, 1,000 hot keys (awaited loop)', 'ops/s', s, 0.2);
  await ctx.close();
}

/** Runs `callers` concurrent loops of `op` for `ops` operations in total; ops/s. */
async function concurrent(callers: number, ops: number, op: (i: number) => Promise<unknown>) {
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (next < ops) await op(next++);
    }),
  );
  return ops / seconds(start);
}

/** #4: increments with the LMDB journal (durable) vs raw lmdb-js puts then `flushed`. */
async function journalIncrement() {
  const dir = mkdtempSync(join(tmpdir(), 'wb-bench-j-'));
  const ctx = await benchContext('sqlite', {
    type: 'memory',
    journal: { path: join(dir, 'journal.mdb') },
  });
  const raw = open({ path: join(dir, 'raw.mdb'), compression: false });
  const ops = quick ? 30_000 : 100_000;
  const s = await compare({
    value: async () => {
      const rate = await concurrent(256, ops, (i) =>
        ctx.buffer.increment(Post, (i % 1000) + 1, 'views'),
      );
      await ctx.buffer.flush().catch(() => undefined);
      return rate;
    },
    baseline: async () => {
      const start = process.hrtime.bigint();
      for (let i = 0; i < ops; i++) void raw.put(`post:${i % 1000}`, i);
      await raw.flushed;
      return ops / seconds(start);
    },
  });
  // The same awaited, durable writes done with raw lmdb-js: the most any
  // library can reach with 256 callers that each wait for their fsync.
  const ceiling = await sample(() =>
    concurrent(256, ops, (i) => raw.put(`post:${i % 1000}`, i).then(() => raw.flushed)),
  );
  record(
    4,
    'BufferService.increment, memory + journal (sync), 256 concurrent awaiting callers',
    'ops/s',
    s,
    0.5,
    true,
    `ceiling: raw lmdb-js with the same 256 callers each awaiting put + flushed: ` +
      `${fmt(ceiling.median)} ops/s (${(ceiling.median / s.baseline!.median).toFixed(3)}× of the baseline; ` +
      `the library reaches ${(s.value.median / ceiling.median).toFixed(2)}× of it)`,
  );
  await raw.close();
  await ctx.close();
}

/** #5: increments on Redis vs raw ioredis INCRBY, 64 concurrent callers each. */
async function redisIncrement() {
  const prefix = `wbbench-${Date.now()}:`;
  const ctx = await benchContext('sqlite', { type: 'redis', url: REDIS_URL, keyPrefix: prefix });
  const raw = new Redis(REDIS_URL, { enableAutoPipelining: true });
  const ops = quick ? 50_000 : 200_000;
  /** 64 callers spread over `rows` rows, against INCRBY on as many keys. */
  const over = (rows: number) => ({
    value: async () => {
      const rate = await concurrent(64, ops, (i) =>
        ctx.buffer.increment(Post, (i % rows) + 1, 'views'),
      );
      await ctx.buffer.flush().catch(() => undefined);
      return rate;
    },
    baseline: () => concurrent(64, ops, (i) => raw.incrby(`${prefix}raw:${i % rows}`, 1)),
  });
  const s = await compare(over(1000));
  // 1,000 rows give every caller of a turn its own row (64 cells per script
  // call); on a few hot rows a turn's writes coalesce into few cells.
  const hot = await compare(over(10));
  const [h, hb] = [hot.value.median, hot.baseline.median];
  record(
    5,
    'BufferService.increment, Redis, 64 concurrent awaiting callers',
    'ops/s',
    s,
    2,
    true,
    `on 10 hot rows instead of 1,000: ${fmt(h)} ops/s vs ${fmt(hb)} (${(h / hb).toFixed(2)}×)`,
  );
  const keys = await raw.keys(`${prefix}*`);
  if (keys.length) await raw.del(...keys);
  raw.disconnect();
  await ctx.close();
}

/** #6 and #7: flush throughput against one raw batch statement over the same rows. */
async function flushes(database: 'sqlite' | 'postgres', rows: number) {
  const ctx = await benchContext(database);
  await seedRows(ctx.dataSource, Post, rows);
  await seedRows(ctx.dataSource, User, rows);
  const ids = Array.from({ length: rows }, (_, i) => i + 1);
  /** One transaction of multi-row statements over `ids`, chunked under SQLite's 32,766 parameters. */
  const rawSqlite = (sql: (values: string) => string, row: (id: number) => unknown[]) =>
    ctx.dataSource.transaction(async (m) => {
      const width = row(0).length;
      const size = Math.floor(32_766 / width);
      for (let i = 0; i < ids.length; i += size) {
        const chunk = ids.slice(i, i + size);
        const tuple = `(${Array(width).fill('?').join(', ')})`;
        await m.query(sql(`VALUES ${chunk.map(() => tuple).join(',')}`), chunk.flatMap(row));
      }
    });
  const rawCounter = async () => {
    const start = process.hrtime.bigint();
    if (database === 'postgres') {
      await ctx.dataSource.query(
        'UPDATE "post" AS t SET "views" = t."views" + v.d FROM unnest($1::int[], $2::int[]) AS v(id, d) WHERE t."id" = v.id',
        [ids, ids.map(() => 1)],
      );
    } else {
      await rawSqlite(
        (values) =>
          `UPDATE "post" AS t SET "views" = t."views" + v.column2 FROM (${values}) AS v WHERE t."id" = v.column1`,
        (id) => [id, 1],
      );
    }
    return rows / seconds(start);
  };
  const kinds: Array<[string, () => Promise<void>, () => Promise<number>]> = [
    [
      'counter rows',
      async () => {
        for (const id of ids) await ctx.buffer.increment(Post, id, 'views');
      },
      rawCounter,
    ],
    [
      'update rows',
      async () => {
        const at = new Date();
        for (const id of ids) await ctx.buffer.update(User, id, { lastSeenAt: at });
      },
      async () => {
        const start = process.hrtime.bigint();
        const at = new Date();
        if (database === 'postgres') {
          await ctx.dataSource.query(
            'UPDATE "app_user" AS t SET "lastSeenAt" = v.at FROM unnest($1::int[], $2::timestamp[]) AS v(id, at) WHERE t."id" = v.id',
            [ids, ids.map(() => at)],
          );
        } else {
          const text = at.toISOString().replace('T', ' ').replace('Z', '');
          await rawSqlite(
            (values) =>
              `UPDATE "app_user" AS t SET "lastSeenAt" = v.column2 FROM (${values}) AS v WHERE t."id" = v.column1`,
            (id) => [id, text],
          );
        }
        return rows / seconds(start);
      },
    ],
    [
      'inserts',
      async () => {
        const at = new Date();
        await ctx.buffer.insert(
          ActivityLog,
          ids.map((id) => ({ postId: id, at, ip: '127.0.0.1' })),
        );
      },
      async () => {
        const start = process.hrtime.bigint();
        const at = new Date();
        if (database === 'postgres') {
          await ctx.dataSource.query(
            'INSERT INTO "activity_log" ("postId", "at", "ip") SELECT * FROM unnest($1::int[], $2::timestamp[], $3::varchar[])',
            [ids, ids.map(() => at), ids.map(() => '127.0.0.1')],
          );
        } else {
          const text = at.toISOString().replace('T', ' ').replace('Z', '');
          await rawSqlite(
            (values) => `INSERT INTO "activity_log" ("postId", "at", "ip") ${values}`,
            (id) => [id, text, '127.0.0.1'],
          );
        }
        return rows / seconds(start);
      },
    ],
  ];
  for (const [kind, buffer, raw] of kinds) {
    let statements = 0;
    const s = await compare(
      {
        value: async () => {
          await buffer();
          ctx.statements.reset();
          const start = process.hrtime.bigint();
          await ctx.buffer.flush();
          const rate = rows / seconds(start);
          statements = ctx.statements.writes().length;
          return rate;
        },
        baseline: raw,
      },
      rows <= 10_000 ? { samples: quick ? 7 : 15, warmup: 2 } : { warmup: 1 },
    );
    record(6, `flush of ${rows.toLocaleString('en-US')} ${kind}, ${database}`, 'rows/s', s, 0.7);
    const chunk = statements > 0 ? Math.ceil(rows / statements) : rows;
    results.push({
      id: 7,
      name: `statements for ${rows.toLocaleString('en-US')} ${kind} in 1 table, ${database}`,
      unit: statements === 1 ? 'statement' : 'statements',
      value: statements,
      baseline: null,
      ratio: null,
      target: `O(T + K/chunk), ${chunk.toLocaleString('en-US')} rows per statement`,
      met: null,
      samples: { value: { median: statements, min: statements, max: statements } },
    });
    console.log(`\n  #7 ${results[results.length - 1].name}: ${statements}`);
  }
  await ctx.close();
}

/** #8: heap bytes per pending counter vs a raw Map<string, number> entry. */
async function heapPerCounter() {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  const n = 100_000;
  const heap = () => {
    gc();
    gc();
    return process.memoryUsage().heapUsed;
  };
  const ctx = await benchContext('sqlite');
  const s = await compare({
    value: async () => {
      const before = heap();
      for (let i = 0; i < n; i++) await ctx.buffer.increment(Post, i + 1, 'views');
      const bytes = (heap() - before) / n;
      await ctx.buffer.flush().catch(() => undefined);
      return bytes;
    },
    baseline: async () => {
      const before = heap();
      const map = new Map<string, number>();
      for (let i = 0; i < n; i++) map.set(`post:${i + 1}:views`, 1);
      const bytes = (heap() - before) / n;
      if (map.size !== n) throw new Error('unreachable');
      return bytes;
    },
  });
  record(8, 'heap bytes per pending counter, memory storage', 'bytes', s, 2, false);
  await ctx.close();
}

/** Runs the sample app (compiled next to this file) and waits until it listens. */
async function sampleApp(env: Record<string, string>) {
  const port = 3900 + Math.floor(Math.random() * 1000);
  const child = spawn(
    process.execPath,
    [join(import.meta.dirname, '..', 'sample-app', 'main.js')],
    {
      env: {
        ...process.env,
        ...env,
        PORT: String(port),
        DATA_DIR: mkdtempSync(join(tmpdir(), 'wb-bench-app-')),
      },
      stdio: 'ignore',
    },
  );
  for (let i = 0; i < 200; i++) {
    const up = await fetch(`http://127.0.0.1:${port}/buffer/stats`).then(
      () => true,
      () => false,
    );
    if (up)
      return {
        url: `http://127.0.0.1:${port}`,
        stop: () => new Promise((r) => (child.once('exit', r), child.kill('SIGTERM'))),
      };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill('SIGKILL');
  throw new Error('the sample app did not start');
}

/** Requests per second of GET `path` under fixed connections and duration. */
async function http(url: string, path: string): Promise<number> {
  const result = await autocannon({
    url: `${url}${path}`,
    connections: 32,
    duration: quick ? 3 : 8,
    requests: [{ method: 'GET', path }],
  });
  if (result.non2xx) throw new Error(`${path}: ${result.non2xx} non-2xx responses`);
  return result.requests.average;
}

/** #1 and #2: the sample app's counted endpoint against its uncounted and per-request-UPDATE twins. */
async function httpEndpoints(hasPostgres: boolean) {
  const cases: Array<{
    id: number;
    name: string;
    env: Record<string, string>;
    baseline: string;
    target: number;
  }> = [
    {
      id: 1,
      name: 'HTTP GET /posts/:id with @BufferedCounter (SQLite, memory + journal) vs no write',
      env: {},
      baseline: '/posts/1/uncounted',
      target: 0.9,
    },
    ...(hasPostgres
      ? [
          {
            id: 2,
            name: 'HTTP GET /posts/:id with @BufferedCounter vs repo.increment per request (PostgreSQL)',
            env: { DATABASE_URL: POSTGRES_URL },
            baseline: '/posts/1/direct',
            target: 5,
          },
        ]
      : []),
  ];
  for (const { id, name, env, baseline, target } of cases) {
    const app = await sampleApp(env);
    const s = await compare({
      value: () => http(app.url, '/posts/1'),
      baseline: () => http(app.url, baseline),
    });
    let note: string | undefined;
    if (baseline !== '/posts/1/uncounted') {
      // No buffer can make an endpoint faster than the same endpoint without the write.
      const ceiling = (await sample(() => http(app.url, '/posts/1/uncounted'))).median;
      note =
        `ceiling: the same endpoint with no write at all: ${fmt(ceiling)} req/s ` +
        `(${(ceiling / s.baseline!.median).toFixed(2)}× of the baseline; the library reaches ${(s.value.median / ceiling).toFixed(2)}× of it)`;
    }
    record(id, name, 'req/s', s, target, true, note);
    await app.stop();
  }
}

async function main() {
  const started = Date.now();
  const hasPostgres = await postgresUp();
  const hasRedis = await new Redis(REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  })
    .connect()
    .then(
      () => true,
      () => false,
    );
  const steps: Array<[string, () => Promise<void>]> = [
    ['#1/#2 HTTP', () => httpEndpoints(hasPostgres)],
    ['#3 memory increment', memoryIncrement],
    ['#4 journal increment', journalIncrement],
    ...(hasRedis
      ? ([['#5 Redis increment', redisIncrement]] as Array<[string, () => Promise<void>]>)
      : []),
    ['#6/#7 SQLite flush, 10k', () => flushes('sqlite', 10_000)],
    ...(hasPostgres
      ? ([['#6/#7 PostgreSQL flush, 10k', () => flushes('postgres', 10_000)]] as Array<
          [string, () => Promise<void>]
        >)
      : []),
    ...(quick
      ? []
      : ([
          ['#6/#7 SQLite flush, 100k', () => flushes('sqlite', 100_000)],
          ...(hasPostgres
            ? [['#6/#7 PostgreSQL flush, 100k', () => flushes('postgres', 100_000)]]
            : []),
        ] as Array<[string, () => Promise<void>]>)),
    ['#8 heap per counter', heapPerCounter],
  ];
  if (!hasPostgres)
    console.warn(
      'PostgreSQL not reachable: its rows are skipped (eval "$(test/servers.sh start)")',
    );
  if (!hasRedis) console.warn('Redis not reachable: its rows are skipped');
  const only = process.argv.includes('--only')
    ? process.argv[process.argv.indexOf('--only') + 1]
    : undefined;
  if (only) steps.splice(0, steps.length, ...steps.filter(([name]) => name.includes(only)));
  for (const [i, [name, step]] of steps.entries()) {
    process.stdout.write(`[${i + 1}/${steps.length}] ${name} `);
    await step();
    console.log();
  }
  const dir = join(process.cwd(), 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  for (const result of results) {
    const file = result.name
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '');
    writeFileSync(join(dir, `${result.id}-${file}.json`), JSON.stringify(result, null, 2) + '\n');
  }
  const summary = results.map(({ id, name, value, baseline, ratio, target, met, note }) => ({
    id,
    name,
    value,
    baseline,
    ratio,
    target,
    met,
    ...(note && { note }),
  }));
  // A partial run (--only) replaces its own rows in the summary of a whole one.
  const summaryFile = join(dir, 'summary.json');
  const previous: typeof summary =
    only && existsSync(summaryFile) ? JSON.parse(readFileSync(summaryFile, 'utf8')) : [];
  const merged = previous.map((row) => summary.find((r) => r.name === row.name) ?? row);
  for (const row of summary) if (!merged.includes(row)) merged.push(row);
  writeFileSync(summaryFile, JSON.stringify(merged, null, 2) + '\n');
  console.log(
    `\n| # | what | value | baseline | ratio | target | met |\n|---|---|---|---|---|---|---|`,
  );
  for (const r of results) {
    console.log(
      `| ${r.id} | ${r.name} | ${fmt(r.value)} ${r.unit} | ${r.baseline === null ? '—' : fmt(r.baseline)} | ${r.ratio ?? '—'} | ${r.target} | ${r.met === null ? '—' : r.met ? 'yes' : 'no'} |`,
    );
  }
  console.log(
    `\n${quick ? 'quick ' : ''}bench finished in ${Math.round((Date.now() - started) / 1000)} s`,
  );
  process.exit(0);
}

await main();
