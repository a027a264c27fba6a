/**
 * `npm run test:crash -- --kills 50 [--postgres] [--mariadb]`: the long crash run.
 * Runs SQLite, and PostgreSQL and MariaDB too when their test servers answer
 * (always with --postgres / --mariadb), with the journaled memory storage; then, when Redis
 * answers, each again with the Redis storage (a fifth of the kills); then each with four
 * processes sharing one LMDB environment (a fifth of the kills, at least three: the flusher
 * mid-statement, the flusher between commit and ack, any process at random). Prints a line
 * per database, then one line over all:
 * `crash: kills=<n> acked=<n> lost=<n> doubled=<n>`.
 */
import { join } from 'node:path';
import { runCrashHarness, runSharedCrash, type SharedKill } from './crash-harness.js';

const args = process.argv.slice(2);
const kills = Number(args[args.indexOf('--kills') + 1] || 50);
const postgresUrl =
  process.env.WB_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:54329/postgres';
const mariadbUrl = process.env.WB_TEST_MARIADB_URL ?? 'mysql://root@127.0.0.1:33306/mysql';
const redisUrl = process.env.WB_TEST_REDIS_URL ?? 'redis://127.0.0.1:63799';

async function redisUp(): Promise<boolean> {
  const { Redis } = await import('ioredis');
  const client = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0 });
  return client.connect().then(
    () => (client.disconnect(), true),
    () => (client.disconnect(), false),
  );
}

async function postgresUp(): Promise<boolean> {
  const pg = (await import('pg')).default;
  const client = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 2000 });
  return client.connect().then(
    () => client.end().then(() => true),
    () => false,
  );
}

async function mariadbUp(): Promise<boolean> {
  const mysql = (await import('mysql2/promise')).default;
  return mysql.createConnection({ uri: mariadbUrl, connectTimeout: 2000 }).then(
    (connection) => connection.end().then(() => true),
    () => false,
  );
}

const targets: Array<[string, string | undefined]> = [['sqlite', undefined]];
if (args.includes('--postgres') || (await postgresUp())) targets.push(['postgres', postgresUrl]);
if (args.includes('--mariadb') || (await mariadbUp())) targets.push(['mariadb', mariadbUrl]);
const total = { kills: 0, acked: 0, lost: 0, doubled: 0 };
for (const [name, url] of targets) {
  console.log(`crash run on ${name}: ${kills} kills`);
  const entry = join(import.meta.dirname, 'crash-app.js');
  const result = await runCrashHarness({ kills, postgresUrl: url, entry });
  console.log(`  killed at: ${JSON.stringify(result.killedAt)}`);
  console.log(
    `  ${name}: kills=${result.kills} acked=${result.acked} lost=${result.lost} doubled=${result.doubled}`,
  );
  const { upserted } = result;
  console.log(
    `  ${name} upserted aggregate (of those): acked=${upserted.acked} lost=${upserted.lost} doubled=${upserted.doubled}`,
  );
  for (const key of ['kills', 'acked', 'lost', 'doubled'] as const) total[key] += result[key];
}
// Redis storage: three instances behind one Redis, the flusher SIGKILLed mid-statement.
if (await redisUp()) {
  const redisKills = Math.max(2, Math.ceil(kills / 5));
  for (const [name, url] of targets) {
    console.log(`crash run on ${name} with Redis storage: ${redisKills} kills of the flusher`);
    const entry = join(import.meta.dirname, 'crash-app.js');
    const result = await runSharedCrash({
      storage: { redisUrl },
      postgresUrl: url,
      kills: Array.from({ length: redisKills }, (): SharedKill => 'statement'),
      entry,
    });
    console.log(
      `  ${name} + redis: kills=${redisKills} acked=${result.acked} lost=${result.lost} doubled=${result.doubled} (upserted aggregate: acked=${result.upserted.acked} lost=${result.upserted.lost} doubled=${result.upserted.doubled})`,
    );
    total.kills += redisKills;
    total.acked += result.acked;
    total.lost += result.lost;
    total.doubled += result.doubled;
  }
}
// Shared LMDB storage: four processes on one environment.
const lmdbPlan: SharedKill[] = ['statement', 'commit', 'random'];
const lmdbKills = Math.max(3, Math.ceil(kills / 5));
for (const [name, url] of targets) {
  console.log(`crash run on ${name} with the shared LMDB storage: ${lmdbKills} kills`);
  const entry = join(import.meta.dirname, 'crash-app.js');
  const result = await runSharedCrash({
    storage: { lmdb: true },
    processes: 4,
    postgresUrl: url,
    kills: Array.from({ length: lmdbKills }, (_, i) => lmdbPlan[i % lmdbPlan.length]),
    entry,
  });
  console.log(
    `  ${name} + lmdb: kills=${lmdbKills} acked=${result.acked} lost=${result.lost} doubled=${result.doubled} left=${result.inFlight + result.pending} (upserted aggregate: acked=${result.upserted.acked} lost=${result.upserted.lost} doubled=${result.upserted.doubled})`,
  );
  total.kills += lmdbKills;
  total.acked += result.acked;
  total.lost += result.lost;
  total.doubled += result.doubled;
}
console.log(
  `crash: kills=${total.kills} acked=${total.acked} lost=${total.lost} doubled=${total.doubled}`,
);
process.exit(total.lost > 0 || total.doubled > 0 ? 1 : 0);
