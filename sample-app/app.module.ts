import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Module } from '@nestjs/common';
import { TypeOrmModule, type TypeOrmModuleOptions } from '@nestjs/typeorm';
import { WriteBufferModule } from '../lib/index.js';
import { BufferController } from './controllers/buffer.controller.js';
import { EventsController } from './controllers/events.controller.js';
import { PostsController } from './controllers/posts.controller.js';
import { UsersController } from './controllers/users.controller.js';
import { ActivityLog } from './entities/activity-log.entity.js';
import { Post } from './entities/post.entity.js';
import { User } from './entities/user.entity.js';
import { SeedService } from './seed.service.js';

const entities = [Post, User, ActivityLog];

/** Holds the SQLite file and the write-buffer journal. */
function dataDir(env = process.env): string {
  const dir = env.DATA_DIR ?? join('sample-app', 'data');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** SQLite under DATA_DIR by default; PostgreSQL when DATABASE_URL is set. */
export function databaseOptions(env = process.env): TypeOrmModuleOptions {
  if (env.DATABASE_URL) {
    return { type: 'postgres', url: env.DATABASE_URL, entities, synchronize: true };
  }
  const database = join(dataDir(env), 'sample.sqlite');
  return { type: 'better-sqlite3', database, entities, synchronize: true };
}

@Module({
  imports: [
    TypeOrmModule.forRoot(databaseOptions()),
    TypeOrmModule.forFeature([Post]),
    WriteBufferModule.forRoot({
      storage: process.env.REDIS_URL
        ? { type: 'redis', url: process.env.REDIS_URL }
        : { type: 'memory', journal: { path: join(dataDir(), 'journal.mdb') } },
      flush: { cron: process.env.FLUSH_CRON ?? '*/5 * * * * *' },
    }),
  ],
  controllers: [PostsController, UsersController, EventsController, BufferController],
  providers: [SeedService],
})
export class AppModule {}
