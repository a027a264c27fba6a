import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  Body,
  Controller,
  Get,
  NotFoundException,
  Param,
  Post as HttpPost,
  type ExecutionContext,
} from '@nestjs/common';
import request from 'supertest';
import { BufferedCounter, BufferService } from '../lib/index.js';
import { databaseKinds } from './support/databases.js';
import { Membership, Post, User } from './support/entities.js';
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

/** Every handler counts a view; one counts a like instead. */
@Controller('articles')
@BufferedCounter(Post, 'views')
class ArticlesController {
  @Get(':id')
  find() {
    return { ok: true };
  }

  @Get(':id/comments')
  comments() {
    return [];
  }

  @HttpPost(':id/like')
  @BufferedCounter(Post, 'likes')
  like() {
    return { ok: true };
  }
}

/** A resource controller: its list and create routes name no row. */
@Controller('stories')
@BufferedCounter(Post, 'views')
class StoriesController {
  created = 0;

  @Get()
  list() {
    return [];
  }

  @HttpPost()
  create() {
    this.created++;
    return { ok: true };
  }

  @Get(':id')
  find() {
    return { ok: true };
  }
}

/** Calls `BufferService` with what the client sent, as an app's own handler would. */
@Controller('users')
class UsersController {
  constructor(private readonly buffer: BufferService) {}

  @HttpPost(':id/seen')
  async seen(@Param('id') id: string, @Body() patch: Record<string, unknown>) {
    await this.buffer.update(User, id, patch);
    return { ok: true };
  }
}

describe.each(await databaseKinds())('@BufferedCounter through HTTP on %s', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(
      kind,
      {},
      { controllers: [CountingController, ArticlesController, StoriesController, UsersController] },
    );
    await t.dataSource.getRepository(Post).insert([{ id: 1 }, { id: 2 }, { id: 3 }, { id: 404 }]);
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

  it('answers 400 with the message for an id that is not a key, and counts nothing', async () => {
    const before = await t.buffer.stats();
    const response = await request(server()).get('/posts/abc').expect(400);
    expect(response.body).toEqual({
      statusCode: 400,
      message: expect.stringMatching(
        /^Primary column 'id' of entity Post is an integer, and "abc" is not a valid integer key\. Pass /,
      ),
    });
    expect(await t.buffer.stats()).toMatchObject({ pending: before.pending });
  });

  it("answers 400 with the message for input errors of the app's own BufferService calls", async () => {
    await t.dataSource.getRepository(User).insert({ id: 1 });
    const wrongType = await request(server())
      .post('/users/1/seen')
      .send({ active: 'yes' })
      .expect(400);
    expect(wrongType.body).toEqual({
      statusCode: 400,
      message: expect.stringMatching(/^Column User\.active expects a boolean/),
    });
    const unknown = await request(server()).post('/users/1/seen').send({ nmae: 'x' }).expect(400);
    expect(unknown.body.message).toMatch(/'nmae' is not a column of entity User/);
    const primary = await request(server()).post('/users/1/seen').send({ id: 2 }).expect(400);
    expect(primary.body.message).toMatch(/part of the primary key/);
    await request(server()).post('/users/x/seen').send({ active: true }).expect(400);
    expect((await t.buffer.stats()).pending.updates).toBe(0);
    await request(server()).post('/users/1/seen').send({ active: false }).expect(201);
    expect((await t.buffer.stats()).pending.updates).toBe(1);
  });

  it('on a controller class, counts every handler; a handler of its own wins', async () => {
    await request(server()).get('/articles/3').expect(200);
    await request(server()).get('/articles/3/comments').expect(200);
    await request(server()).post('/articles/3/like').expect(201);
    expect(await t.buffer.get(Post, 3, 'views')).toBe(2);
    expect(await t.buffer.get(Post, 3, 'likes')).toBe(1);
    await t.buffer.flush();
    expect(await t.dataSource.getRepository(Post).findOneByOrFail({ id: 3 })).toMatchObject({
      views: 2,
      likes: 1,
    });
  });

  it('on a controller class, handlers whose route names no id answer as usual and count nothing', async () => {
    const before = await t.buffer.stats();
    // The handler ran (a story was created): a 400 now would make the client retry it.
    await request(server()).get('/stories').expect(200);
    await request(server()).post('/stories').expect(201);
    expect(t.app.get(StoriesController).created).toBe(1);
    expect(await t.buffer.stats()).toMatchObject({ pending: before.pending });
    await request(server()).get('/stories/1').expect(200);
    expect((await t.buffer.stats()).pending.counters).toBe(before.pending.counters + 1);
  });
});

describe('BufferFullError through HTTP', () => {
  let t: TestApp;
  beforeAll(async () => {
    const [kind] = await databaseKinds();
    t = await createTestApp(
      kind,
      { limits: { maxPendingEntries: 1, policy: 'reject' } },
      { controllers: [UsersController] },
    );
  });
  afterAll(() => t.close());

  it('answers 503 while the buffer is full, and buffers nothing more', async () => {
    await t.dataSource.getRepository(User).insert([{ id: 1 }, { id: 2 }]);
    const server = t.app.getHttpServer();
    await request(server).post('/users/1/seen').send({ active: false }).expect(201);
    const full = await request(server).post('/users/2/seen').send({ active: false }).expect(503);
    expect(full.body).toEqual({ statusCode: 503, message: 'Service Unavailable' });
    expect((await t.buffer.stats()).pending.updates).toBe(1);
  });
});
