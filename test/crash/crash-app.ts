/**
 * A small app for the crash harness: counters, settings and events buffered
 * through a journaled memory storage (or Redis, with REDIS_URL; or the shared LMDB storage, with
 * LMDB_PATH; no periodic flush with FLUSH_CRON=off). With CRASH_DELAY_MS set it announces
 * and stretches the flush's statements and its commit ("HOOK statement",
 * "HOOK commit" on stdout) so the harness can kill it exactly there.
 */
import { UPDATE_STATEMENT } from '../support/query-counter.js';
import 'reflect-metadata';
import { join } from 'node:path';
import {
  Controller,
  Get,
  HttpCode,
  Injectable,
  Module,
  Param,
  ParseIntPipe,
  Post,
  type OnModuleInit,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule, type TypeOrmModuleOptions } from '@nestjs/typeorm';
import {
  Check,
  Column,
  DataSource,
  Entity,
  EventSubscriber,
  PrimaryColumn,
  PrimaryGeneratedColumn,
  type BeforeQueryEvent,
  type EntitySubscriberInterface,
} from 'typeorm';
import { BufferService, WriteBufferModule } from '../../lib/index.js';

@Entity('crash_counter')
export class CrashCounter {
  @PrimaryColumn('int') id!: number;
  @Column('int', { default: 0 }) n!: number;
}

@Entity('crash_setting')
export class CrashSetting {
  @PrimaryColumn('int') id!: number;
  @Column('int', { default: 0 }) v!: number;
}

/** Events whose uid starts with "poison" are refused by the database: they must end as dead letters. */
@Entity('crash_event')
@Check('CHK_crash_event_uid', `"uid" NOT LIKE 'poison%'`)
export class CrashEvent {
  @PrimaryGeneratedColumn() id!: number;
  @Column('varchar', { length: 40 }) uid!: string;
}

/** An upserted aggregate (`onMissingRow: 'insert'`): no row exists until a flush creates it. */
@Entity('crash_daily')
export class CrashDaily {
  @PrimaryColumn('int') day!: number;
  @PrimaryColumn('int') page!: number;
  @Column('int', { default: 0 }) n!: number;
}

export const CRASH_ENTITIES = [CrashCounter, CrashSetting, CrashEvent, CrashDaily];
export const COUNTER_ROWS = 20;
export const SETTING_ROWS = 64;

const delay = Number(process.env.CRASH_DELAY_MS ?? 0);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

@EventSubscriber()
class FlushHooks implements EntitySubscriberInterface {
  private inFlush = false;

  async beforeQuery(event: BeforeQueryEvent) {
    if (!delay) return;
    if (/write_buffer_ledger/.test(event.query) && /^INSERT/.test(event.query)) this.inFlush = true;
    if (
      this.inFlush &&
      (UPDATE_STATEMENT.test(event.query) || /^INSERT INTO ["`]crash_/.test(event.query))
    ) {
      console.log('HOOK statement');
      await sleep(delay);
    }
  }

  async afterTransactionCommit() {
    if (!this.inFlush) return;
    this.inFlush = false;
    console.log('HOOK commit');
    await sleep(delay);
  }
}

@Injectable()
class Seed implements OnModuleInit {
  constructor(private readonly dataSource: DataSource) {}

  async onModuleInit() {
    if (this.dataSource.options.type === 'mariadb') {
      // TypeORM creates no CHECK constraints on MySQL/MariaDB.
      await this.dataSource.query(
        "ALTER TABLE crash_event ADD CONSTRAINT IF NOT EXISTS CHK_crash_event_uid CHECK (uid NOT LIKE 'poison%')",
      );
    }
    if (await this.dataSource.getRepository(CrashCounter).count()) return;
    const ids = (n: number) => Array.from({ length: n }, (_, i) => ({ id: i + 1 }));
    await this.dataSource.getRepository(CrashCounter).insert(ids(COUNTER_ROWS));
    await this.dataSource.getRepository(CrashSetting).insert(ids(SETTING_ROWS));
  }
}

@Controller()
class CrashController {
  constructor(private readonly buffer: BufferService) {}

  @Post('c/:id/:by')
  @HttpCode(204)
  count(@Param('id', ParseIntPipe) id: number, @Param('by', ParseIntPipe) by: number) {
    return this.buffer.increment(CrashCounter, id, 'n', by);
  }

  /** The counter's current value, as `BufferService.get()` reads it. */
  @Get('c/:id')
  async read(@Param('id', ParseIntPipe) id: number) {
    return { n: await this.buffer.get(CrashCounter, id, 'n') };
  }

  @Post('d/:day/:page/:by')
  @HttpCode(204)
  daily(
    @Param('day', ParseIntPipe) day: number,
    @Param('page', ParseIntPipe) page: number,
    @Param('by', ParseIntPipe) by: number,
  ) {
    return this.buffer.increment(CrashDaily, { day, page }, 'n', by);
  }

  @Post('s/:id/:v')
  @HttpCode(204)
  set(@Param('id', ParseIntPipe) id: number, @Param('v', ParseIntPipe) v: number) {
    return this.buffer.update(CrashSetting, id, { v });
  }

  @Post('e/:uid')
  @HttpCode(204)
  event(@Param('uid') uid: string) {
    return this.buffer.insert(CrashEvent, { uid });
  }

  @Post('flush')
  flush() {
    return this.buffer.flush();
  }

  /** The uids of the events held as dead letters. */
  @Get('dead')
  async dead() {
    return (await this.buffer.deadLetters()).map((letter) => String(letter.payload.uid));
  }
}

const dataDir = process.env.DATA_DIR!;
const database: TypeOrmModuleOptions = process.env.DATABASE_URL
  ? {
      type: process.env.DATABASE_URL.startsWith('mysql:') ? 'mariadb' : 'postgres',
      url: process.env.DATABASE_URL,
    }
  : { type: 'better-sqlite3', database: join(dataDir, 'crash.sqlite') };

@Module({
  imports: [
    TypeOrmModule.forRoot({
      ...database,
      entities: CRASH_ENTITIES,
      subscribers: [FlushHooks],
      synchronize: true,
    } as TypeOrmModuleOptions),
    WriteBufferModule.forRoot({
      storage: process.env.REDIS_URL
        ? { type: 'redis', url: process.env.REDIS_URL, keyPrefix: process.env.REDIS_PREFIX }
        : process.env.LMDB_PATH
          ? { type: 'lmdb', path: process.env.LMDB_PATH }
          : { type: 'memory', journal: { path: join(dataDir, 'journal.mdb') } },
      flush: {
        cron: process.env.FLUSH_CRON === 'off' ? false : '* * * * * *',
        maxBatchRows: 300,
        maxPending: 1000,
        leaseTtl: Number(process.env.LEASE_TTL_MS ?? 30_000),
      },
    }),
    WriteBufferModule.forFeature([{ entity: CrashDaily, onMissingRow: 'insert' }]),
  ],
  controllers: [CrashController],
  providers: [Seed],
})
class CrashAppModule {}

async function main() {
  const app = await NestFactory.create(CrashAppModule, { logger: ['error', 'warn', 'log'] });
  app.enableShutdownHooks();
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address() as { port: number };
  console.log(`READY ${address.port}`);
}

void main();
