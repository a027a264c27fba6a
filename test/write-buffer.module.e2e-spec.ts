import 'reflect-metadata';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { Injectable, Module, type LoggerService } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { ScheduleModule, SchedulerRegistry } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import { getDataSourceToken, TypeOrmModule } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { existsSync } from 'node:fs';
import {
  BufferService,
  WRITE_BUFFER_FLUSH_JOB,
  WriteBufferConfigError,
  WriteBufferModule,
  type WriteBufferModuleAsyncOptions,
  type WriteBufferModuleOptions,
  type WriteBufferOptionsFactory,
} from '../lib/index.js';
import { createTestDatabase, databaseKinds, type TestDatabase } from './support/databases.js';
import { ENTITIES, Post, User } from './support/entities.js';
import { scratchSpace } from './support/scratch.js';

const [kind] = await databaseKinds();
const databases: TestDatabase[] = [];
const fresh = async () => {
  const database = await createTestDatabase(kind);
  databases.push(database);
  return database;
};
afterEach(async () => {
  jest.useRealTimers();
  while (databases.length) await databases.pop()!.drop();
});

const { journalPath } = scratchSpace('wb-module-');

/** Options factory class for forRootAsync's useClass / useExisting. */
@Injectable()
class Options implements WriteBufferOptionsFactory {
  createWriteBufferOptions(): WriteBufferModuleOptions {
    return { flush: { cron: false } };
  }
}

/** An async factory type-checks too. */
@Injectable()
class AsyncOptions implements WriteBufferOptionsFactory {
  async createWriteBufferOptions(): Promise<WriteBufferModuleOptions> {
    return { flush: { cron: false } };
  }
}

/** A factory whose options are not `WriteBufferModuleOptions` is refused by the compiler. */
class WrongOptions {
  createWriteBufferOptions() {
    return { flush: { cron: 5 } };
  }
}
const typed: WriteBufferModuleAsyncOptions[] = [
  { useClass: Options },
  { useClass: AsyncOptions, isGlobal: true },
  // @ts-expect-error cron is a string or false
  { useClass: WrongOptions },
];

/** Keeps what the app logs, by level. */
class MemoryLog implements LoggerService {
  readonly lines: Array<[string, string]> = [];
  log(message: unknown) {
    this.lines.push(['log', String(message)]);
  }
  error(message: unknown) {
    this.lines.push(['error', String(message)]);
  }
  warn(message: unknown) {
    this.lines.push(['warn', String(message)]);
  }
  /** Messages logged at `log` level that match `pattern`. */
  logged(pattern: RegExp): string[] {
    return this.lines
      .filter(([level, line]) => level === 'log' && pattern.test(line))
      .map(([, line]) => line);
  }
}

async function seededPost(dataSource: DataSource) {
  await dataSource.getRepository(Post).insert({ id: 1 });
}

describe('WriteBufferModule', () => {
  it('forRootAsync with ConfigService (useFactory)', async () => {
    const database = await fresh();
    const moduleRef = await Test.createTestingModule({
      imports: [
        ConfigModule.forRoot({ ignoreEnvFile: true, load: [() => ({ LEDGER: 'my_ledger' })] }),
        TypeOrmModule.forRoot(database.options({ entities: ENTITIES })),
        WriteBufferModule.forRootAsync({
          imports: [ConfigModule],
          inject: [ConfigService],
          useFactory: (config: ConfigService): WriteBufferModuleOptions => ({
            flush: { cron: false },
            ledger: { table: config.getOrThrow<string>('LEDGER') },
          }),
        }),
      ],
    }).compile();
    const app = await moduleRef.createNestApplication({ logger: false }).init();
    const dataSource = app.get<DataSource>(getDataSourceToken());
    await seededPost(dataSource);
    await app.get(BufferService).increment(Post, 1, 'views');
    await app.get(BufferService).flush();
    const [{ count }] = await dataSource.query(
      `SELECT COUNT(*) AS count FROM my_ledger WHERE batch_id <> '#format'`,
    );
    expect(Number(count)).toBe(1);
    await app.close();
  });

  it('forRootAsync with useClass and isGlobal', async () => {
    const database = await fresh();
    @Injectable()
    class Consumer {
      constructor(readonly buffer: BufferService) {}
    }
    @Module({ providers: [Consumer] })
    class FeatureModule {}
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot(database.options({ entities: ENTITIES })),
        WriteBufferModule.forRootAsync({ useClass: Options, isGlobal: true }),
        FeatureModule,
      ],
    }).compile();
    const app = await moduleRef.createNestApplication({ logger: false }).init();
    expect(app.get(Consumer).buffer).toBe(app.get(BufferService));
    await app.close();
  });

  it('forRootAsync with an async useClass factory', async () => {
    const database = await fresh();
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot(database.options({ entities: ENTITIES })),
        WriteBufferModule.forRootAsync(typed[1]),
      ],
    }).compile();
    const app = await moduleRef.createNestApplication({ logger: false }).init();
    await seededPost(app.get<DataSource>(getDataSourceToken()));
    await app.get(BufferService).increment(Post, 1, 'views');
    expect(await app.get(BufferService).get(Post, 1, 'views')).toBe(1);
    await app.close();
  });

  it('forRootAsync with useExisting', async () => {
    const database = await fresh();
    @Module({ providers: [Options], exports: [Options] })
    class OptionsModule {}
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot(database.options({ entities: ENTITIES })),
        WriteBufferModule.forRootAsync({ imports: [OptionsModule], useExisting: Options }),
      ],
    }).compile();
    const app = await moduleRef.createNestApplication({ logger: false }).init();
    expect(app.get(BufferService)).toBeInstanceOf(BufferService);
    await app.close();
  });

  it('routes each entity to its own data source', async () => {
    const [main, analytics] = [await fresh(), await fresh()];
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot(main.options({ entities: [Post] })),
        TypeOrmModule.forRoot({ ...analytics.options({ entities: [User] }), name: 'analytics' }),
        WriteBufferModule.forRoot({ dataSource: ['default', 'analytics'], flush: { cron: false } }),
      ],
    }).compile();
    const app = await moduleRef.createNestApplication({ logger: false }).init();
    const mainSource = app.get<DataSource>(getDataSourceToken());
    const analyticsSource = app.get<DataSource>(getDataSourceToken('analytics'));
    await seededPost(mainSource);
    await analyticsSource.getRepository(User).insert({ id: 1 });
    const buffer = app.get(BufferService);
    await buffer.increment(Post, 1, 'views', 2);
    await buffer.increment(User, 1, 'logins', 3);
    const report = await buffer.flush();
    expect(report.batches).toBe(2);
    expect((await mainSource.getRepository(Post).findOneByOrFail({ id: 1 })).views).toBe(2);
    expect((await analyticsSource.getRepository(User).findOneByOrFail({ id: 1 })).logins).toBe(3);
    await app.close();
  });

  it('names the missing data source', async () => {
    const database = await fresh();
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot(database.options({ entities: ENTITIES })),
        WriteBufferModule.forRoot({ dataSource: 'analytics' }),
      ],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await expect(app.init()).rejects.toThrow(WriteBufferConfigError);
    await expect(app.init()).rejects.toThrow(/could not find the TypeORM data source 'analytics'/);
    await app.close().catch(() => undefined);
  });

  it('refuses a bad option at start, before it opens anything', async () => {
    const path = journalPath();
    // No database needed: the options are checked before anything else.
    const moduleRef = Test.createTestingModule({
      imports: [
        WriteBufferModule.forRoot({
          storage: { type: 'memory', journal: { path } },
          flush: { maxBatchRows: 0 },
        }),
      ],
    }).compile();
    await expect(moduleRef).rejects.toThrow(WriteBufferConfigError);
    await expect(moduleRef).rejects.toThrow(
      /^flush\.maxBatchRows must be a whole number \(1 or more\), not 0\./,
    );
    // The journal was never created: nothing could have been buffered in it.
    expect(existsSync(path)).toBe(false);
  });

  it('chains the lookup error to the missing data source error', async () => {
    const database = await fresh();
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot(database.options({ entities: ENTITIES })),
        WriteBufferModule.forRoot({ dataSource: 'analytics', flush: { cron: false } }),
      ],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    const error = await app.init().then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(WriteBufferConfigError);
    expect((error as Error).cause).toBeInstanceOf(Error);
    await app.close().catch(() => undefined);
  });

  it('logs its configuration at start, and what the final flush did at shutdown', async () => {
    const database = await fresh();
    const start = async (log: MemoryLog) => {
      const moduleRef = await Test.createTestingModule({
        imports: [
          TypeOrmModule.forRoot(database.options({ entities: ENTITIES })),
          WriteBufferModule.forRoot({ flush: { cron: false }, limits: { maxPendingEntries: 500 } }),
        ],
      }).compile();
      return moduleRef.createNestApplication({ logger: log }).init();
    };
    const log = new MemoryLog();
    const app = await start(log);
    expect(log.logged(/^Buffering writes/)).toEqual([
      `Buffering writes for data source(s) 'default' in memory storage without journal (a crash loses what is pending); ` +
        `no periodic flush, early after 10000 writes; limits: 500 entries (policy 'flush'), 10000 dead letters.`,
    ]);
    await seededPost(app.get<DataSource>(getDataSourceToken()));
    await app.get(BufferService).increment(Post, 1, 'views', 2);
    await app.close();
    expect(log.logged(/^Final flush/)).toEqual([
      expect.stringMatching(
        /^Final flush at shutdown: 1 batch\(es\) applied in \d+ ms \(0 row\(s\) inserted, 0 updated, 1 incremented\)\.$/,
      ),
    ]);
    const idle = new MemoryLog();
    await (await start(idle)).close();
    expect(idle.logged(/^Final flush/)).toEqual(['Final flush at shutdown: nothing was pending.']);
  });

  it('logs the dead letters it recovered at start', async () => {
    const database = await fresh();
    const path = journalPath();
    const start = async (log: MemoryLog) => {
      const moduleRef = await Test.createTestingModule({
        imports: [
          TypeOrmModule.forRoot(database.options({ entities: ENTITIES })),
          WriteBufferModule.forRoot({
            storage: { type: 'memory', journal: { path } },
            flush: { cron: false },
          }),
        ],
      }).compile();
      return moduleRef.createNestApplication({ logger: log }).init();
    };
    const first = await start(new MemoryLog());
    // Post 7 does not exist: its counter becomes a dead letter.
    await first.get(BufferService).increment(Post, 7, 'views');
    await first.get(BufferService).flush();
    expect(await first.get(BufferService).deadLetters()).toHaveLength(1);
    await first.close();
    const log = new MemoryLog();
    const second = await start(log);
    expect(log.logged(/^Recovered/)).toEqual([
      expect.stringMatching(
        / 0 in-flight batch\(es\) and 1 dead letter\(s\) \(see BufferService\.deadLetters\(\)\)/,
      ),
    ]);
    await second.close();
  });

  it('flushes what is pending on app.close()', async () => {
    const database = await fresh();
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot(database.options({ entities: ENTITIES })),
        WriteBufferModule.forRoot({ flush: { cron: false } }),
      ],
    }).compile();
    const app = await moduleRef.createNestApplication({ logger: false }).init();
    await seededPost(app.get<DataSource>(getDataSourceToken()));
    await app.get(BufferService).increment(Post, 1, 'views', 4);
    await app.close();
    const check = await createDataSource(database);
    expect((await check.getRepository(Post).findOneByOrFail({ id: 1 })).views).toBe(4);
    await check.destroy();
  });

  it('flushes on its cron schedule and registers the job in SchedulerRegistry', async () => {
    const database = await fresh();
    const moduleRef = await Test.createTestingModule({
      imports: [
        ScheduleModule.forRoot(),
        TypeOrmModule.forRoot(database.options({ entities: ENTITIES })),
        WriteBufferModule.forRoot({ flush: { cron: '*/5 * * * * *', onShutdown: false } }),
      ],
    }).compile();
    const app = await moduleRef.createNestApplication({ logger: false }).init();
    const dataSource = app.get<DataSource>(getDataSourceToken());
    await seededPost(dataSource);
    const registry = app.get(SchedulerRegistry);
    expect(registry.getCronJob(WRITE_BUFFER_FLUSH_JOB)).toBeDefined();

    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    // The job was started on real timers; restart it on the fake clock.
    const job = registry.getCronJob(WRITE_BUFFER_FLUSH_JOB);
    await job.stop();
    job.start();
    await app.get(BufferService).increment(Post, 1, 'views', 3);
    expect((await dataSource.getRepository(Post).findOneByOrFail({ id: 1 })).views).toBe(0);
    await jest.advanceTimersByTimeAsync(5_100);
    jest.useRealTimers();
    await waitFor(
      async () => (await dataSource.getRepository(Post).findOneByOrFail({ id: 1 })).views === 3,
    );
    await app.close();
    expect(registry.doesExist('cron', WRITE_BUFFER_FLUSH_JOB)).toBe(false);
  });
});

async function createDataSource(database: TestDatabase): Promise<DataSource> {
  const { DataSource } = await import('typeorm');
  return new DataSource(database.options({ entities: ENTITIES, synchronize: false })).initialize();
}

async function waitFor(check: () => Promise<boolean>, timeout = 5000) {
  const until = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
