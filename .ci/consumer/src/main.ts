// A consumer of the packed package: type-checked with skipLibCheck false,
// then booted twice (forRoot, forRootAsync with a useClass factory), each
// time counting one HTTP request into SQLite and checking the row.
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  Controller,
  Get,
  Injectable,
  Module,
  Param,
  ParseIntPipe,
  type DynamicModule,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import {
  BufferedCounter,
  BufferService,
  WriteBufferModule,
  type WriteBufferModuleOptions,
  type WriteBufferOptionsFactory,
} from 'nestjs-write-buffer';
import { Column, DataSource, Entity, PrimaryColumn } from 'typeorm';

@Entity('post')
class Post {
  @PrimaryColumn('int')
  id!: number;

  @Column('int', { default: 0 })
  views!: number;
}

@Controller('posts')
class PostsController {
  constructor(private readonly buffer: BufferService) {}

  @Get(':id')
  @BufferedCounter(Post, 'views')
  findOne(@Param('id', ParseIntPipe) id: number) {
    return { id };
  }

  @Get(':id/views')
  async views(@Param('id', ParseIntPipe) id: number): Promise<{ views: number }> {
    return { views: await this.buffer.get(Post, id, 'views') };
  }
}

@Injectable()
class WriteBufferConfig implements WriteBufferOptionsFactory {
  createWriteBufferOptions(): WriteBufferModuleOptions {
    return { storage: { type: 'memory' }, flush: { cron: false } };
  }
}

function appModule(database: string, writeBuffer: DynamicModule) {
  @Module({
    imports: [
      TypeOrmModule.forRoot({
        type: 'better-sqlite3',
        database,
        entities: [Post],
        synchronize: true,
      }),
      writeBuffer,
    ],
    controllers: [PostsController],
  })
  class AppModule {}
  return AppModule;
}

async function countOneRequest(name: string, writeBuffer: DynamicModule): Promise<void> {
  const database = join(process.env.CONSUMER_DATA_DIR ?? '.', `${name}.sqlite`);
  const app = await NestFactory.create(appModule(database, writeBuffer), { logger: ['error'] });
  app.enableShutdownHooks();
  await app.listen(0, '127.0.0.1');
  try {
    await app.get(DataSource).getRepository(Post).insert({ id: 1, views: 0 });
    const response = await fetch(`${await app.getUrl()}/posts/1`);
    assert.equal(response.status, 200, `GET /posts/1 answered ${response.status}`);
    const report = await app.get(BufferService).flush();
    assert.equal(report.incremented, 1, `the flush applied ${report.incremented} counters`);
    const [row] = await app.get(DataSource).query('SELECT views FROM post WHERE id = 1');
    assert.equal(row.views, 1, `post 1 has ${row.views} views in SQLite`);
    const stats = await app.get(BufferService).stats();
    assert.equal(stats.pending.counters, 0);
    console.log(`consumer (${name}): GET /posts/1 counted, post 1 has 1 view in SQLite`);
  } finally {
    await app.close();
  }
}

await countOneRequest('for-root', WriteBufferModule.forRoot({ flush: { cron: false } }));
await countOneRequest(
  'for-root-async',
  WriteBufferModule.forRootAsync({ useClass: WriteBufferConfig }),
);
