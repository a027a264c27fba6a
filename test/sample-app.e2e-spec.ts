import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import request from 'supertest';
import mysql from 'mysql2/promise';
import { buildCrashApp } from './crash/crash-harness.js';
import { MARIADB_URL, mariadbAdmin, mariadbAvailable } from './support/databases.js';

/** Prometheus text → value per `name{labels}` (labels as exposed, in order). */
function parseMetrics(text: string): Map<string, number> {
  const series = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    series.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return series;
}

/** The sum of the series of `name` whose labels include every `label="value"` of `labels`. */
function sumOf(series: Map<string, number>, name: string, labels: Record<string, string> = {}) {
  let sum = 0;
  let found = false;
  for (const [key, value] of series) {
    const brace = key.indexOf('{');
    if ((brace < 0 ? key : key.slice(0, brace)) !== name) continue;
    if (!Object.entries(labels).every(([k, v]) => key.includes(`${k}="${v}"`))) continue;
    sum += value;
    found = true;
  }
  if (!found) throw new Error(`no series ${name} ${JSON.stringify(labels)} in /metrics`);
  return sum;
}

describe('sample app (SQLite, memory storage)', () => {
  let app: INestApplication;
  const dataDir = mkdtempSync(join(tmpdir(), 'wb-sample-'));

  beforeAll(async () => {
    process.env.DATA_DIR = dataDir;
    process.env.FLUSH_CRON = '0 0 1 1 *';
    delete process.env.DATABASE_URL;
    const { AppModule } = await import('../sample-app/app.module.js');
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    app = await moduleRef.createNestApplication({ logger: ['error'] }).init();
  });
  afterAll(async () => {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('counts views, likes, touches and events, and flushes them', async () => {
    const server = app.getHttpServer();
    const before = (await request(server).get('/posts/1/views').expect(200)).body.views;
    await request(server).get('/posts/1').expect(200);
    await request(server).get('/posts/1').expect(200);
    expect((await request(server).get('/posts/1/views').expect(200)).body).toEqual({
      id: 1,
      views: before + 2,
    });
    await request(server).post('/posts/1/like').expect(204);
    await request(server).post('/users/5/touch').expect(204);
    await request(server).post('/events').send({ postId: 1 }).expect(202);
    expect((await request(server).get('/buffer/stats').expect(200)).body.pending).toEqual({
      counters: 3, // post 1's views and likes, post 1's views of today
      updates: 1,
      inserts: 1,
    });
    const report = (await request(server).post('/buffer/flush').expect(200)).body;
    expect(report).toMatchObject({ inserted: 1, updated: 1, incremented: 2, missing: [] });
    const post = (await request(server).get('/posts/1').expect(200)).body;
    expect(post).toMatchObject({ views: before + 2, likes: 1 });
  });

  it("counts views per post per day, creating the day's row at the flush", async () => {
    const server = app.getHttpServer();
    const day = new Date().toISOString().slice(0, 10);
    await request(server).post('/buffer/flush').expect(200);
    const before = (await request(server).get('/posts/7/daily').expect(200)).body;
    expect(before).toEqual([]);
    await request(server).get('/posts/7').expect(200);
    await request(server).get('/posts/7').expect(200);
    // Exact before the flush, while no row exists.
    expect((await request(server).get('/posts/7/daily').expect(200)).body).toEqual([
      { day, views: 2 },
    ]);
    const report = (await request(server).post('/buffer/flush').expect(200)).body;
    expect(report).toMatchObject({ missing: [], deadLettered: 0 });
    await request(server).get('/posts/7').expect(200);
    expect((await request(server).get('/posts/7/daily').expect(200)).body).toEqual([
      { day, views: 3 },
    ]);
    await request(server).post('/buffer/flush').expect(200);
    const db = new Database(join(dataDir, 'sample.sqlite'), { readonly: true });
    const rows = db
      .prepare('SELECT day, postId, views FROM post_daily_views WHERE postId = 7')
      .all();
    db.close();
    expect(rows).toEqual([{ day, postId: 7, views: 3 }]);
  });

  it('deletes a post with pending views without applying them', async () => {
    const server = app.getHttpServer();
    await request(server).get('/posts/50').expect(200);
    await request(server).post('/posts/50/like').expect(204);
    expect((await request(server).delete('/posts/50').expect(200)).body).toEqual({
      id: 50,
      discarded: 2,
      inFlight: 0,
    });
    const report = (await request(server).post('/buffer/flush').expect(200)).body;
    expect(report.missing).toEqual([]);
    await request(server).get('/posts/50').expect(404);
    await request(server).delete('/posts/50').expect(404);
  });

  it('lists posts with live counts: GET /posts?ids=…', async () => {
    const server = app.getHttpServer();
    await request(server).post('/buffer/flush').expect(200);
    const list = async (ids: string) =>
      (await request(server).get(`/posts?ids=${ids}`).expect(200)).body as Array<{
        id: number;
        views: number;
        likes: number;
      }>;
    const before = await list('3,1,2');
    expect(before.map((post) => post.id)).toEqual([3, 1, 2]);
    await request(server).get('/posts/3').expect(200);
    await request(server).post('/posts/1/like').expect(204);
    await request(server).post('/posts/1/like').expect(204);
    // Buffered, not flushed: the list shows them, and no post that does not exist.
    const live = await list('3,1,2,9999');
    expect(live).toEqual([
      { ...before[0], views: before[0].views + 1 },
      { ...before[1], likes: before[1].likes + 2 },
      before[2],
    ]);
    await request(server).post('/buffer/flush').expect(200);
    expect(await list('3,1,2')).toEqual(live);
    await request(server).get('/posts?ids=1,abc').expect(400);
    await request(server).get('/posts').expect(400);
  });

  it('keeps the latest touch of a user: GET /users/:id/last-seen before and after the flush', async () => {
    const server = app.getHttpServer();
    const seen = async () =>
      (await request(server).get('/users/7/last-seen').expect(200)).body.lastSeenAt as string;
    await request(server).post('/users/7/touch').expect(204);
    const first = await seen();
    expect(Date.parse(first)).toBeGreaterThan(Date.now() - 60_000);
    await request(server).post('/buffer/flush').expect(200);
    expect(await seen()).toBe(first);
  });

  it('answers 400 for a non-numeric id and counts nothing', async () => {
    const server = app.getHttpServer();
    await request(server).post('/buffer/flush').expect(200);
    await request(server).get('/posts/abc').expect(400);
    await request(server).get('/posts/9999').expect(404);
    expect((await request(server).get('/buffer/stats')).body.pending.counters).toBe(0);
  });

  it.each([
    ['no body', undefined, 'postId must be a positive integer, got nothing'],
    // Express's JSON parser refuses a top-level null before any pipe runs.
    ['null', 'null', '"null" is not valid JSON'],
    ['a string postId', '{"postId":"abc"}', 'postId must be a positive integer, got "abc"'],
    ['an array', '[1,2]', 'must be a JSON object'],
    ['a negative postId', '{"postId":-1}', 'postId must be a positive integer, got -1'],
  ])('answers 400 to POST /events with %s and buffers nothing', async (_, body, message) => {
    const server = app.getHttpServer();
    await request(server).post('/buffer/flush').expect(200);
    const post = request(server).post('/events').set('Content-Type', 'application/json');
    const response = await (body === undefined ? post : post.send(body)).expect(400);
    expect(response.body.message).toContain(message);
    expect((await request(server).get('/buffer/stats')).body.pending.inserts).toBe(0);
  });

  it('serves /metrics with the documented series after a known load', async () => {
    const server = app.getHttpServer();
    await request(server).post('/buffer/flush').expect(200);
    const scrape = async () => {
      const response = await request(server).get('/metrics').expect(200);
      expect(response.headers['content-type']).toContain('text/plain');
      return parseMetrics(response.text);
    };
    const before = await scrape();
    expect(sumOf(before, 'write_buffer_oldest_pending_age_seconds')).toBe(0);
    const counted = (s: Map<string, number>, kind: string, table: string) =>
      sumOf(s, 'write_buffer_rows_applied_total', { kind, table });
    const flushes = (s: Map<string, number>) =>
      sumOf(s, 'write_buffer_flush_duration_seconds_count');

    for (let i = 0; i < 3; i++) await request(server).get('/posts/2').expect(200);
    await request(server).post('/posts/3/like').expect(204);
    await request(server).post('/events').send({ postId: 2 }).expect(202);
    await request(server).post('/events').send({ postId: 3 }).expect(202);
    const pending = await scrape();
    expect(sumOf(pending, 'write_buffer_pending_entries', { kind: 'counter', table: 'post' })).toBe(
      2,
    );
    expect(sumOf(pending, 'write_buffer_pending_entries', { kind: 'insert' })).toBe(2);
    expect(sumOf(pending, 'write_buffer_oldest_pending_age_seconds')).toBeGreaterThanOrEqual(0);

    await request(server).post('/buffer/flush').expect(200);
    const after = await scrape();
    expect(counted(after, 'counter', 'post') - counted(before, 'counter', 'post')).toBe(2);
    expect(
      counted(after, 'insert', 'activity_log') - counted(before, 'insert', 'activity_log'),
    ).toBe(2);
    expect(flushes(after) - flushes(before)).toBe(1);
    expect(sumOf(after, 'write_buffer_pending_entries')).toBe(0);
    expect(sumOf(after, 'write_buffer_oldest_pending_age_seconds')).toBe(0);
  });

  it('serves /health with the database and the write buffer up', async () => {
    const response = await request(app.getHttpServer()).get('/health').expect(200);
    expect(response.body.status).toBe('ok');
    expect(response.body.info.database.status).toBe('up');
    expect(response.body.info['write-buffer']).toMatchObject({
      status: 'up',
      consecutiveFailures: 0,
      deadLetters: 0,
    });
  });
});

const describeMariadb = (await mariadbAvailable()) ? describe : describe.skip;

describeMariadb('sample app on MariaDB (DATABASE_URL=mariadb://…)', () => {
  let app: INestApplication;
  const dataDir = mkdtempSync(join(tmpdir(), 'wb-sample-mariadb-'));
  const name = `wb_sample_${process.pid}`;

  beforeAll(async () => {
    await mariadbAdmin(`CREATE DATABASE ${name} CHARACTER SET utf8mb4`);
    const url = new URL(MARIADB_URL);
    url.pathname = `/${name}`;
    process.env.DATA_DIR = dataDir;
    process.env.FLUSH_CRON = '0 0 1 1 *';
    process.env.DATABASE_URL = url.toString().replace(/^mysql:/, 'mariadb:');
    const { AppModule } = await import('../sample-app/app.module.js');
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    app = await moduleRef.createNestApplication({ logger: ['error'] }).init();
  });
  afterAll(async () => {
    await app?.close();
    delete process.env.DATABASE_URL;
    await mariadbAdmin(`DROP DATABASE IF EXISTS ${name}`);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('seeds, counts and flushes into MariaDB', async () => {
    const server = app.getHttpServer();
    await request(server).get('/posts/7').expect(200);
    await request(server).get('/posts/7').expect(200);
    await request(server).get('/posts/7/direct').expect(200);
    expect((await request(server).get('/posts/7/views').expect(200)).body.views).toBe(3);
    await request(server).post('/buffer/flush').expect(200);
    const connection = await mysql.createConnection({ uri: MARIADB_URL });
    try {
      const [rows] = await connection.query(`SELECT views FROM ${name}.post WHERE id = 7`);
      expect(rows).toEqual([{ views: 3 }]);
    } finally {
      await connection.end();
    }
  });
});

/** A port nothing listens on now (the system picks it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe('sample app with WORKERS=2 (node:cluster, shared lmdb storage)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'wb-sample-cluster-'));
  let primary: ChildProcess | undefined;
  afterAll(() => {
    primary?.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('counts views on one port across workers, get() is exact in every worker, and SIGTERM flushes them all', async () => {
    const entry = buildCrashApp().replace(
      join('test', 'crash', 'crash-app.js'),
      join('sample-app', 'main.js'),
    );
    const port = await freePort();
    primary = spawn(process.execPath, [entry], {
      env: {
        ...process.env,
        NODE_OPTIONS: '',
        WORKERS: '2',
        PORT: String(port),
        DATA_DIR: dataDir,
        FLUSH_CRON: '0 0 1 1 *',
        DATABASE_URL: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => primary!.once('exit', resolve));
    const lines: string[] = [];
    createInterface({ input: primary.stderr! }).on('line', (line) => lines.push(line));
    const listening = new Promise<void>((resolve, reject) => {
      createInterface({ input: primary!.stdout! }).on('line', (line) => {
        lines.push(line);
        if (lines.filter((l) => /Worker \d+ on http/.test(l)).length === 2) resolve();
      });
      // A worker that cannot start ends the test with what the app printed, not a timeout.
      void exited.then((code) =>
        reject(new Error(`the sample app exited (${code}) before listening:\n${lines.join('\n')}`)),
      );
    });
    await listening;
    const url = `http://127.0.0.1:${port}`;
    // Keep-alive off: each request may reach either worker.
    const get = (path: string) => fetch(`${url}${path}`, { headers: { connection: 'close' } });
    for (let round = 0; round < 10; round++) {
      await Promise.all(Array.from({ length: 10 }, () => get('/posts/1')));
    }
    const seen = await Promise.all(
      Array.from(
        { length: 6 },
        async () => ((await (await get('/posts/1/views')).json()) as { views: number }).views,
      ),
    );
    expect(new Set(seen)).toEqual(new Set([100]));

    primary.kill('SIGTERM');
    expect(await exited).toBe(0);
    primary = undefined;
    const db = new Database(join(dataDir, 'sample.sqlite'), { readonly: true });
    const row = db.prepare('SELECT views FROM post WHERE id = 1').get() as { views: number };
    db.close();
    expect(row.views).toBe(100);
  }, 180_000);
});
