// First: registers the OpenTelemetry SDK before the write buffer asks for its meter.
import './observability/metrics.js';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { TerminusModule } from '@nestjs/terminus';
import { TypeOrmModule, type TypeOrmModuleOptions } from '@nestjs/typeorm';
import { WriteBufferModule, type WriteBufferModuleOptions } from '../lib/index.js';
import { WriteBufferHealthIndicator } from '../lib/terminus/index.js';
import { BenchController } from './controllers/bench.controller.js';
import { BufferController } from './controllers/buffer.controller.js';
import { EventsController } from './controllers/events.controller.js';
import { HealthController } from './controllers/health.controller.js';
import { MetricsController } from './controllers/metrics.controller.js';
import { PostDailyViewsController } from './controllers/post-daily-views.controller.js';
import { PostDeletionController } from './controllers/post-deletion.controller.js';
import { PostListController } from './controllers/post-list.controller.js';
import { PostsController } from './controllers/posts.controller.js';
import { UsersController } from './controllers/users.controller.js';
import { ActivityLog } from './entities/activity-log.entity.js';
import { PostDailyViews } from './entities/post-daily-views.entity.js';
import { Post } from './entities/post.entity.js';
import { User } from './entities/user.entity.js';
import { BufferEventsListener } from './observability/buffer-events.listener.js';
import { SeedService } from './seed.service.js';

const entities = [Post, User, ActivityLog, PostDailyViews];

/** Holds the SQLite file and the write-buffer journal: `DATA_DIR`, default `sample-app/data`. */
function dataDir(config: ConfigService): string {
  const dir = config.get<string>('DATA_DIR') ?? join('sample-app', 'data');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * SQLite under `DATA_DIR` by default; with `DATABASE_URL`, PostgreSQL
 * (`postgres://…`) or MySQL/MariaDB (`mysql://…` as TypeORM type `mysql`,
 * `mariadb://…` as type `mariadb`, both through `mysql2`).
 */
export function databaseOptions(config: ConfigService): TypeOrmModuleOptions {
  const url = config.get<string>('DATABASE_URL');
  const scheme = url && new URL(url).protocol;
  if (scheme === 'mysql:' || scheme === 'mariadb:') {
    const type = scheme === 'mysql:' ? 'mysql' : 'mariadb';
    // mysql2 reads `mysql://` URLs only.
    return { type, url: url!.replace(/^mariadb:/, 'mysql:'), entities, synchronize: true };
  }
  if (url) return { type: 'postgres', url, entities, synchronize: true };
  const database = join(dataDir(config), 'sample.sqlite');
  return { type: 'better-sqlite3', database, entities, synchronize: true };
}

/**
 * Redis when `REDIS_URL` is set; else, with `WORKERS` (cluster workers),
 * the lmdb storage every worker shares under `DATA_DIR`; else memory with
 * an LMDB journal under `DATA_DIR`. `FLUSH_CRON`.
 */
export function writeBufferOptions(config: ConfigService): WriteBufferModuleOptions {
  const redisUrl = config.get<string>('REDIS_URL');
  const shared = Number(config.get<string>('WORKERS') ?? 0) > 0;
  return {
    storage: redisUrl
      ? { type: 'redis', url: redisUrl }
      : shared
        ? { type: 'lmdb', path: join(dataDir(config), 'buffer.mdb') }
        : { type: 'memory', journal: { path: join(dataDir(config), 'journal.mdb') } },
    flush: { cron: config.get<string>('FLUSH_CRON') ?? '*/5 * * * * *' },
  };
}

@Module({
  imports: [
    ConfigModule.forRoot({ isGlobal: true }),
    TypeOrmModule.forRootAsync({ inject: [ConfigService], useFactory: databaseOptions }),
    TypeOrmModule.forFeature([Post]),
    WriteBufferModule.forRootAsync({ inject: [ConfigService], useFactory: writeBufferOptions }),
    TypeOrmModule.forFeature([PostDailyViews]),
    // Views per post per day: the flush creates each day's row (see PostDailyViewsController).
    WriteBufferModule.forFeature([{ entity: PostDailyViews, onMissingRow: 'insert' }]),
    // lastSeenAt only moves forward, whichever instance or worker flushes first.
    WriteBufferModule.forFeature([{ entity: User, merge: { lastSeenAt: 'max' } }]),
    EventEmitterModule.forRoot(),
    TerminusModule,
  ],
  controllers: [
    PostsController,
    PostDailyViewsController,
    PostDeletionController,
    PostListController,
    UsersController,
    EventsController,
    BufferController,
    BenchController,
    MetricsController,
    HealthController,
  ],
  providers: [SeedService, WriteBufferHealthIndicator, BufferEventsListener],
})
export class AppModule {}
