import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { admin, mariadbAdmin } from '../support/databases.js';

/**
 * Crash harness: runs test/crash/crash-app.ts as a child process, drives
 * concurrent HTTP load at it, SIGKILLs it (at random, in the middle of a
 * flush statement, between a flush's commit and its ack, and during
 * start-up recovery), restarts it on the same journal and database, and
 * finally checks the database against what was acknowledged.
 */
export interface CrashOptions {
  kills: number;
  /**
   * PostgreSQL (or MariaDB, `mysql://`) server URL (a fresh database is
   * created on it); SQLite when absent.
   */
  postgresUrl?: string;
  /** Concurrent HTTP clients. */
  workers?: number;
  /** Compiled crash app to run; compiled from source when absent. */
  entry?: string;
  log?: (line: string) => void;
}

export interface CrashResult {
  kills: number;
  /** Kills per kind of moment. */
  killedAt: Record<KillPoint, number>;
  acked: number;
  lost: number;
  doubled: number;
  /** Of those, the upserted aggregate's (rows a flush creates): its acknowledged increments, lost and doubled. */
  upserted: Tally;
}

/** Acknowledged writes of one kind, and how many of them were lost or applied twice. */
export interface Tally {
  acked: number;
  lost: number;
  doubled: number;
}

type KillPoint = 'random' | 'statement' | 'commit' | 'recovery';
const PLAN: KillPoint[] = ['random', 'statement', 'commit', 'recovery'];
const COUNTER_ROWS = 20;
const SETTING_ROWS = 64;
/** Days × pages of the upserted aggregate: 20 rows, none before the first flush. */
const DAILY_DAYS = 5;
const DAILY_PAGES = 4;
// eslint-disable-next-line no-control-regex
const ANSI_COLOR = /\x1b\[[0-9;]*m/g;
/** The repository root: npm scripts and jest run there. */
const ROOT = process.cwd();

/** Compiles the project (the child runs plain JavaScript); returns the app's entry file. */
export function buildCrashApp(): string {
  const outDir = join(ROOT, '.build');
  const tsc = spawnSync(
    process.execPath,
    [
      join(ROOT, 'node_modules/typescript/bin/tsc'),
      '-p',
      join(ROOT, 'tsconfig.json'),
      '--outDir',
      outDir,
      '--sourceMap',
      'false',
      '--declaration',
      'false',
    ],
    { stdio: 'inherit' },
  );
  if (tsc.status !== 0) throw new Error('compiling the crash app failed');
  return join(outDir, 'test', 'crash', 'crash-app.js');
}

export class App {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  port?: number;
  private waiters: Array<{ test: (line: string) => boolean; resolve: (line: string) => void }> = [];
  readonly exited: Promise<number | null>;

  constructor(entry: string, env: Record<string, string>, log: (line: string) => void) {
    this.child = spawn(process.execPath, [entry], {
      env: { ...process.env, ...env, NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    for (const stream of [this.child.stdout!, this.child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        if (line.startsWith('READY ')) this.port = Number(line.slice(6));
        if (/ERROR|Recovered/.test(line)) log(`    app: ${line.replace(ANSI_COLOR, '')}`);
        this.lines.push(line);
        this.waiters = this.waiters.filter((w) => !(w.test(line) && (w.resolve(line), true)));
      });
    }
  }

  /** Resolves with the first line (from now on) passing `test`, or `null` after `timeout` ms. */
  next(test: (line: string) => boolean, timeout: number): Promise<string | null> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), timeout);
      timer.unref();
      this.waiters.push({ test, resolve: (line) => (clearTimeout(timer), resolve(line)) });
    });
  }

  /** Set once the harness decided to kill it: its failing requests are expected. */
  dying = false;

  async kill(signal: NodeJS.Signals = 'SIGKILL') {
    this.dying = true;
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    await this.exited;
  }
}

/** What the clients sent and which of it was acknowledged (2xx received). */
class Ledger {
  counters = new Map<number, { acked: number; unacked: number }>();
  /** Upserted aggregate, keyed `day:page`. */
  daily = new Map<string, { acked: number; unacked: number }>();
  dailyAcked = 0;
  settings = new Map<number, { acked?: number; unacked: Set<number> }>();
  events = new Map<string, boolean>();
  /** Events the database refuses: acknowledged ones must end as exactly one dead letter each. */
  poison = new Map<string, boolean>();
  acked = 0;
  private nextSetting = new Map<number, number>();

  constructor() {
    for (let id = 1; id <= COUNTER_ROWS; id++) this.counters.set(id, { acked: 0, unacked: 0 });
    for (let id = 1; id <= SETTING_ROWS; id++) this.settings.set(id, { unacked: new Set() });
  }

  /** One random write for worker `w`: its path and what to record once acknowledged. */
  write(w: number, workers: number, seq: string): { path: string; ack: () => void } {
    const pick = Math.random();
    if (pick < 0.2) {
      const [day, page] = [
        1 + Math.floor(Math.random() * DAILY_DAYS),
        1 + Math.floor(Math.random() * DAILY_PAGES),
      ];
      const by = 1 + Math.floor(Math.random() * 3);
      const key = `${day}:${page}`;
      if (!this.daily.has(key)) this.daily.set(key, { acked: 0, unacked: 0 });
      const entry = this.daily.get(key)!;
      entry.unacked += by;
      return {
        path: `/d/${day}/${page}/${by}`,
        ack: () => ((entry.unacked -= by), (entry.acked += by), this.acked++, this.dailyAcked++),
      };
    }
    if (pick < 0.5) {
      const id = 1 + Math.floor(Math.random() * COUNTER_ROWS);
      const by = 1 + Math.floor(Math.random() * 3);
      const entry = this.counters.get(id)!;
      entry.unacked += by;
      return {
        path: `/c/${id}/${by}`,
        ack: () => ((entry.unacked -= by), (entry.acked += by), this.acked++),
      };
    }
    if (pick < 0.75) {
      // Each worker owns its own setting rows, so "last acknowledged" is well defined.
      const owned = Math.floor(SETTING_ROWS / workers);
      const id = 1 + w * owned + Math.floor(Math.random() * owned);
      const v = (this.nextSetting.get(id) ?? 0) + 1;
      this.nextSetting.set(id, v);
      const entry = this.settings.get(id)!;
      entry.unacked.add(v);
      return {
        path: `/s/${id}/${v}`,
        ack: () => {
          entry.unacked.delete(v);
          entry.acked = v;
          this.acked++;
        },
      };
    }
    const uid = `${seq}-${randomBytes(4).toString('hex')}`;
    if (pick > 0.995) {
      // Poison (0.5% of writes) in about one batch in two: flushes bisect while the harness kills them.
      const poison = `poison-${uid}`;
      this.poison.set(poison, false);
      return { path: `/e/${poison}`, ack: () => (this.poison.set(poison, true), this.acked++) };
    }
    this.events.set(uid, false);
    return { path: `/e/${uid}`, ack: () => (this.events.set(uid, true), this.acked++) };
  }
}

async function load(
  apps: App | App[],
  ledger: Ledger,
  workers: number,
  stop: { stopped: boolean },
  round: number,
) {
  let seq = 0;
  const targets = [apps].flat();
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      const app = targets[w % targets.length];
      while (!stop.stopped && !app.dying) {
        const write = ledger.write(w, workers, `${round}-${w}-${seq++}`);
        try {
          const response = await fetch(`http://127.0.0.1:${app.port}${write.path}`, {
            method: 'POST',
            signal: AbortSignal.timeout(15_000),
          });
          if (response.status >= 200 && response.status < 300) write.ack();
          else if (!stop.stopped)
            throw new Error(`${write.path} answered ${response.status}: ${await response.text()}`);
        } catch (error) {
          if (
            !stop.stopped &&
            !app.dying &&
            app.child.exitCode === null &&
            app.child.signalCode === null
          )
            throw error;
          return; // the process died: this write stays unacknowledged
        }
      }
    }),
  );
}

export async function runCrashHarness(options: CrashOptions): Promise<CrashResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const workers = options.workers ?? 8;
  const entry = options.entry ?? buildCrashApp();
  const dataDir = mkdtempSync(join(tmpdir(), 'wb-crash-'));
  const dbName = `wb_crash_${randomBytes(5).toString('hex')}`;
  const databaseUrl = await createDatabase(options.postgresUrl, dbName);
  const env = (delay: number): Record<string, string> => ({
    DATA_DIR: dataDir,
    CRASH_DELAY_MS: String(delay),
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  });
  const ledger = new Ledger();
  const killedAt: Record<KillPoint, number> = { random: 0, statement: 0, commit: 0, recovery: 0 };
  try {
    for (let round = 0; round < options.kills; round++) {
      let point = PLAN[round % PLAN.length];
      const app = new App(entry, env(point === 'random' ? 0 : 150), log);
      if (point === 'recovery') {
        // Kill while start-up re-applies what the last kill left in flight.
        const first = await app.next((l) => l.startsWith('HOOK') || l.startsWith('READY'), 60_000);
        if (first?.startsWith('HOOK')) {
          await app.kill();
          killedAt.recovery++;
          log(`  kill ${round + 1}/${options.kills}: during recovery`);
          continue;
        }
        point = 'commit'; // nothing was in flight: kill after a commit instead
      } else if (!(await app.next((l) => l.startsWith('READY'), 60_000))) {
        await app.kill();
        throw new Error(`the app did not start:\n${app.lines.slice(-30).join('\n')}`);
      }
      if (!app.port) await app.next((l) => l.startsWith('READY'), 60_000);
      const stop = { stopped: false };
      const traffic = load(app, ledger, workers, stop, round);
      const trigger =
        point === 'random'
          ? new Promise((resolve) => setTimeout(resolve, 300 + Math.random() * 1500))
          : app.next((l) => l === `HOOK ${point}`, 8_000);
      await trigger;
      stop.stopped = true;
      await app.kill();
      await traffic;
      killedAt[point]++;
      log(`  kill ${round + 1}/${options.kills}: ${point} (acked so far: ${ledger.acked})`);
    }
    // Last life: start, flush everything, stop gracefully.
    const app = new App(entry, env(0), log);
    if (!(await app.next((l) => l.startsWith('READY'), 60_000))) {
      await app.kill();
      throw new Error(`the app did not start:\n${app.lines.slice(-30).join('\n')}`);
    }
    const flushed = await fetch(`http://127.0.0.1:${app.port}/flush`, { method: 'POST' });
    if (!flushed.ok) throw new Error(`final flush failed: ${await flushed.text()}`);
    const letters = await deadLetters(app);
    await app.kill('SIGTERM');
    const { lost, doubled, upserted } = await verify(ledger, dataDir, databaseUrl, letters);
    return { kills: options.kills, killedAt, acked: ledger.acked, lost, doubled, upserted };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    await dropDatabase(options.postgresUrl, dbName);
  }
}

/**
 * Acknowledged writes, then SIGTERM while the database refuses every
 * connection (PostgreSQL: connections disallowed and existing ones
 * terminated; SQLite: an exclusive lock held by another process), then a
 * restart with the database back. Returns what the final check found and
 * whether the app reported the failed final flush.
 */
/** Writes acknowledged before the database goes down in `runShutdownWithDatabaseDown`. */
const SHUTDOWN_WRITES = 300;

export async function runShutdownWithDatabaseDown(options: {
  postgresUrl?: string;
  entry?: string;
  log?: (line: string) => void;
}) {
  const log = options.log ?? ((line: string) => console.log(line));
  const entry = options.entry ?? buildCrashApp();
  const dataDir = mkdtempSync(join(tmpdir(), 'wb-outage-'));
  const dbName = `wb_outage_${randomBytes(5).toString('hex')}`;
  const databaseUrl = await createDatabase(options.postgresUrl, dbName);
  const env = {
    DATA_DIR: dataDir,
    CRASH_DELAY_MS: '0',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  };
  try {
    const ledger = new Ledger();
    let app = new App(entry, env, log);
    await app.next((l) => l.startsWith('READY'), 60_000);
    const stop = { stopped: false };
    const traffic = load(app, ledger, 4, stop, 0);
    // A count of acknowledged writes, not a duration: a loaded machine acknowledges fewer per second.
    const until = Date.now() + 60_000;
    while (ledger.acked < SHUTDOWN_WRITES && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    stop.stopped = true;
    await traffic;
    let sqliteLock: Database.Database | undefined;
    if (options.postgresUrl) {
      await admin(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS false`, options.postgresUrl);
      await admin(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${dbName}'`,
        options.postgresUrl,
      );
    } else {
      sqliteLock = new Database(join(dataDir, 'crash.sqlite'));
      sqliteLock.exec('BEGIN EXCLUSIVE');
    }
    const failure = app.next((l) => /FINAL FLUSH FAILED/.test(l), 60_000);
    await app.kill('SIGTERM');
    const reported = (await failure) !== null;
    if (options.postgresUrl) {
      await admin(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS true`, options.postgresUrl);
    } else {
      sqliteLock!.exec('ROLLBACK');
      sqliteLock!.close();
    }
    app = new App(entry, env, log);
    await app.next((l) => l.startsWith('READY'), 60_000);
    const flushed = await fetch(`http://127.0.0.1:${app.port}/flush`, { method: 'POST' });
    if (!flushed.ok) throw new Error(`flush after the outage failed: ${await flushed.text()}`);
    await app.kill('SIGTERM');
    return { acked: ledger.acked, reported, ...(await verify(ledger, dataDir, databaseUrl)) };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    await dropDatabase(options.postgresUrl, dbName);
  }
}

/**
 * Several app processes buffer into one Redis under load while only the
 * lease holder flushes; each time one is caught in the middle of a flush
 * statement it is SIGKILLed and replaced, and another instance must take
 * its batch over once its lease expires. Then the database is compared
 * with what was acknowledged.
 */
/** Where the instances of a shared crash run keep their buffer. */
export type SharedStorage = { redisUrl: string } | { lmdb: true };

/**
 * Moments a shared crash run kills an instance at: the flusher in the
 * middle of a flush statement, the flusher between its commit and its
 * ack, or any instance at a random moment.
 */
export type SharedKill = 'statement' | 'commit' | 'random';

/** Starts `processes` crash apps sharing one Redis or one LMDB environment (and one database), kills and restarts them at `kills`, drains them, and checks the database. */
export async function runSharedCrash(options: {
  storage: SharedStorage;
  postgresUrl?: string;
  processes?: number;
  kills?: SharedKill[];
  entry?: string;
  log?: (line: string) => void;
}) {
  const log = options.log ?? ((line: string) => console.log(line));
  const entry = options.entry ?? buildCrashApp();
  const processes = options.processes ?? 3;
  const dataDir = mkdtempSync(join(tmpdir(), 'wb-shared-'));
  const prefix = `wbcrash-${randomBytes(5).toString('hex')}:`;
  const lmdbPath = join(dataDir, 'buffer.mdb');
  const dbName = `wb_shared_${randomBytes(5).toString('hex')}`;
  const databaseUrl = await createDatabase(options.postgresUrl, dbName);
  const env: Record<string, string> = {
    DATA_DIR: dataDir,
    CRASH_DELAY_MS: '100',
    ...('redisUrl' in options.storage
      ? { REDIS_URL: options.storage.redisUrl, REDIS_PREFIX: prefix }
      : { LMDB_PATH: lmdbPath }),
    LEASE_TTL_MS: '1500',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  };
  const ledger = new Ledger();
  const apps: App[] = [await startApp(entry, env, log)]; // the first one creates and seeds the tables
  try {
    while (apps.length < processes) apps.push(await startApp(entry, env, log));
    const kills = options.kills ?? ['statement', 'statement'];
    for (const [round, at] of kills.entries()) {
      const stop = { stopped: false };
      const traffic = load(apps, ledger, processes * 3, stop, round);
      let victim: App | null;
      if (at === 'random') {
        await sleep(300 + Math.random() * 1500);
        victim = apps[Math.floor(Math.random() * apps.length)];
      } else {
        const hook = at === 'statement' ? 'HOOK statement' : 'HOOK commit';
        victim = await Promise.race(
          apps.map((app) =>
            app.next((l) => l === hook, 20_000).then((line) => (line ? app : null)),
          ),
        );
      }
      if (!victim) throw new Error(`no instance reached a flush ${at}`);
      await victim.kill();
      stop.stopped = true;
      await traffic;
      const moment = {
        random: 'at a random moment',
        statement: 'the flusher, mid-statement',
        commit: 'the flusher, between its commit and its ack',
      }[at];
      log(`  kill ${round + 1}/${kills.length}: ${moment} (acked so far: ${ledger.acked})`);
      apps.splice(apps.indexOf(victim), 1);
      apps.push(await startApp(entry, env, log));
    }
    // Another instance adopts what the last flusher left once its lease expires.
    const flushed = await fetch(`http://127.0.0.1:${apps[0].port}/flush`, { method: 'POST' });
    if (!flushed.ok) throw new Error(`final flush failed: ${await flushed.text()}`);
    const letters = await deadLetters(apps[0]);
    await Promise.all(apps.map((app) => app.kill('SIGTERM')));
    const left =
      'redisUrl' in options.storage
        ? await redisLeft(options.storage.redisUrl, prefix)
        : await lmdbLeft(lmdbPath);
    return {
      acked: ledger.acked,
      ...left,
      ...(await verify(ledger, dataDir, databaseUrl, letters)),
    };
  } finally {
    await Promise.all(apps.map((app) => app.kill()));
    rmSync(dataDir, { recursive: true, force: true });
    await dropDatabase(options.postgresUrl, dbName);
  }
}

/** Starts a crash app; resolves once it listens. */
export async function startApp(
  entry: string,
  env: Record<string, string>,
  log: (line: string) => void,
): Promise<App> {
  const app = new App(entry, env, log);
  if (!(await app.next((l) => l.startsWith('READY'), 60_000))) {
    await app.kill();
    throw new Error(`the app did not start:\n${app.lines.slice(-30).join('\n')}`);
  }
  return app;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** In-flight batches and pending tables left under a Redis key prefix. */
async function redisLeft(redisUrl: string, prefix: string) {
  const redis = new (await import('ioredis')).Redis(redisUrl);
  const left = await redis.keys(`${prefix}*`);
  redis.disconnect();
  return {
    inFlight: left.filter((key) => key.includes(':b:')).length,
    pending: left.filter((key) => /:(cnt|upd|ins)$/.test(key)).length,
  };
}

/** In-flight batches and pending entries left in a shared LMDB environment. */
async function lmdbLeft(path: string) {
  const { LmdbStorage } = await import('../../lib/storage/lmdb.storage.js');
  const storage = new LmdbStorage({ path, durability: 'sync' });
  const { pending, inFlightBatches } = await storage.stats();
  await storage.close();
  return {
    inFlight: inFlightBatches,
    pending: pending.counters + pending.updates + pending.inserts,
  };
}

/** The uids of the events an app holds as dead letters. */
async function deadLetters(app: App): Promise<string[]> {
  const response = await fetch(`http://127.0.0.1:${app.port}/dead`);
  if (!response.ok) throw new Error(`reading dead letters failed: ${await response.text()}`);
  return (await response.json()) as string[];
}

async function verify(ledger: Ledger, dataDir: string, databaseUrl?: string, letters?: string[]) {
  let rows: {
    counters: Array<{ id: number; n: number }>;
    settings: Array<{ id: number; v: number }>;
    events: Array<{ uid: string; c: number }>;
    daily: Array<{ day: number; page: number; n: number }>;
  };
  const queries = {
    daily: 'SELECT day, page, n FROM crash_daily',
    counters: 'SELECT id, n FROM crash_counter',
    settings: 'SELECT id, v FROM crash_setting',
    events: 'SELECT uid, COUNT(*) AS c FROM crash_event GROUP BY uid',
  };
  if (databaseUrl?.startsWith('mysql:')) {
    const connection = await mysql.createConnection({ uri: databaseUrl });
    const all = async (sql: string) => (await connection.query(sql))[0] as never;
    rows = {
      counters: await all(queries.counters),
      daily: await all(queries.daily),
      settings: await all(queries.settings),
      events: ((await all(queries.events)) as Array<{ uid: string; c: unknown }>).map((r) => ({
        uid: r.uid,
        c: Number(r.c),
      })),
    };
    await connection.end();
  } else if (databaseUrl) {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    rows = {
      counters: (await client.query(queries.counters)).rows,
      daily: (await client.query(queries.daily)).rows,
      settings: (await client.query(queries.settings)).rows,
      events: (await client.query(queries.events)).rows.map((r) => ({
        uid: r.uid,
        c: Number(r.c),
      })),
    };
    await client.end();
  } else {
    const db = new Database(join(dataDir, 'crash.sqlite'), { readonly: true });
    rows = {
      counters: db.prepare(queries.counters).all() as never,
      daily: db.prepare(queries.daily).all() as never,
      settings: db.prepare(queries.settings).all() as never,
      events: db.prepare(queries.events).all() as never,
    };
    db.close();
  }
  let lost = 0;
  let doubled = 0;
  for (const { id, n } of rows.counters) {
    const { acked, unacked } = ledger.counters.get(id)!;
    // Writes whose response never came may or may not have been buffered.
    if (n < acked) lost += acked - n;
    if (n > acked + unacked) doubled += n - acked - unacked;
  }
  const upserted = { acked: ledger.dailyAcked, lost: 0, doubled: 0 };
  const created = new Map(rows.daily.map((r) => [`${r.day}:${r.page}`, Number(r.n)]));
  for (const key of created.keys()) if (!ledger.daily.has(key)) upserted.doubled++;
  for (const [key, { acked, unacked }] of ledger.daily) {
    const n = created.get(key) ?? 0;
    if (n < acked) upserted.lost += acked - n;
    if (n > acked + unacked) upserted.doubled += n - acked - unacked;
  }
  lost += upserted.lost;
  doubled += upserted.doubled;
  for (const { id, v } of rows.settings) {
    const { acked, unacked } = ledger.settings.get(id)!;
    if (acked !== undefined && v !== acked && !(v > acked && unacked.has(v))) lost++;
  }
  const stored = new Map(rows.events.map((r) => [r.uid, r.c]));
  for (const [uid, acked] of ledger.events) {
    const count = stored.get(uid) ?? 0;
    if (acked && count === 0) lost++;
    if (count > 1) doubled += count - 1;
  }
  if (letters) {
    const held = new Map<string, number>();
    for (const uid of letters) held.set(uid, (held.get(uid) ?? 0) + 1);
    for (const [uid, acked] of ledger.poison) {
      const count = held.get(uid) ?? 0;
      if (acked && count === 0) lost++;
      if (count > 1) doubled += count - 1;
    }
  }
  return { lost, doubled, upserted };
}

/** Creates database `name` on the PostgreSQL or MariaDB server at `serverUrl`; its URL (undefined for SQLite runs). */
async function createDatabase(serverUrl: string | undefined, name: string) {
  if (!serverUrl) return undefined;
  if (serverUrl.startsWith('mysql:')) {
    await mariadbAdmin(`CREATE DATABASE ${name} CHARACTER SET utf8mb4`, serverUrl);
  } else {
    await admin(`CREATE DATABASE ${name}`, serverUrl);
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Drops database `name` from the server at `serverUrl` (nothing for SQLite runs). */
async function dropDatabase(serverUrl: string | undefined, name: string) {
  if (!serverUrl) return;
  if (serverUrl.startsWith('mysql:'))
    await mariadbAdmin(`DROP DATABASE IF EXISTS ${name}`, serverUrl);
  else await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`, serverUrl);
}
