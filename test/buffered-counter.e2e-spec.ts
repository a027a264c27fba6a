import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  Controller,
  Get,
  NotFoundException,
  Param,
  Post as HttpPost,
  type ExecutionContext,
} from '@nestjs/common';
import request from 'supertest';
import { BufferedCounter } from '../lib/index.js';
import { databaseKinds } from './support/databases.js';
import { Membership, Post } from './support/entities.js';
import { createTestApp, type TestApp } from './support/test-app.js';

@Controller()
class CountingController {
  @Get('posts/:id')
  @BufferedCounter(Post, 'views')
  find(@Param('id') id: string) {
    if (id === '404') throw new NotFoundException();
    return { id: Number(id) };
  }

  @HttpPost('posts/:postId/like')
  @BufferedCounter(Post, 'likes', { id: 'postId', by: 2 })
  like() {
    return { ok: true };
  }

  @HttpPost('orgs/:org/users/:user/points')
  @BufferedCounter(Membership, 'points', {
    id: (context: ExecutionContext) => {
      const { params } = context.switchToHttp().getRequest();
      return { orgId: params.org, userId: params.user };
    },
    by: (_context: ExecutionContext, result: unknown) => (result as { earned: number }).earned,
  })
  points() {
    return { earned: 5 };
  }

  @Get('async-posts/:id')
  @BufferedCounter(Post, 'views')
  async findAsync() {
    await new Promise((resolve) => setTimeout(resolve, 5));
    return { ok: true };
  }
}

describe.each(await databaseKinds())('@BufferedCounter through HTTP on %s', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(kind, {}, { controllers: [CountingController] });
    await t.dataSource.getRepository(Post).insert([{ id: 1 }, { id: 2 }, { id: 404 }]);
    await t.dataSource.getRepository(Membership).insert({ orgId: 'acme', userId: 9 });
  });
  afterAll(() => t.close());

  const server = () => t.app.getHttpServer();

  it('counts one view per successful request, with the id from the route', async () => {
    await request(server()).get('/posts/1').expect(200);
    await request(server()).get('/posts/1').expect(200);
    await request(server()).get('/async-posts/1').expect(200);
    expect(await t.buffer.get(Post, 1, 'views')).toBe(3);
    await t.buffer.flush();
    expect((await t.dataSource.getRepository(Post).findOneByOrFail({ id: 1 })).views).toBe(3);
  });

  it('does not count when the handler throws', async () => {
    await request(server()).get('/posts/404').expect(404);
    expect(await t.buffer.get(Post, 404, 'views')).toBe(0);
    expect((await t.buffer.stats()).pending.counters).toBe(0);
  });

  it('takes a custom route param and a fixed amount', async () => {
    await request(server()).post('/posts/2/like').expect(201);
    expect(await t.buffer.get(Post, 2, 'likes')).toBe(2);
  });

  it('takes id and amount functions of the context and result', async () => {
    await request(server()).post('/orgs/acme/users/9/points').expect(201);
    await t.buffer.flush();
    expect(
      (await t.dataSource.getRepository(Membership).findOneByOrFail({ orgId: 'acme', userId: 9 }))
        .points,
    ).toBe(5);
  });
});
