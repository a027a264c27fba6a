import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import request from 'supertest';
import { buildCrashApp } from './crash/crash-harness.js';

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
      counters: 2,
      updates: 1,
      inserts: 1,
    });
    const report = (await request(server).post('/buffer/flush').expect(200)).body;
    expect(report).toMatchObject({ inserted: 1, updated: 1, incremented: 1, missing: [] });
    const post = (await request(server).get('/posts/1').expect(200)).body;
    expect(post).toMatchObject({ views: before + 2, likes: 1 });
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
});

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
    const port = 40_000 + Math.floor(Math.random() * 10_000);
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
    const listening = new Promise<void>((resolve) => {
      createInterface({ input: primary!.stdout! }).on('line', (line) => {
        lines.push(line);
        if (lines.filter((l) => /Worker \d+ on http/.test(l)).length === 2) resolve();
      });
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
