import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';

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
