import type { DynamicModule, INestApplication, LoggerService, Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule, getDataSourceToken } from '@nestjs/typeorm';
import { DataSource, type DataSourceOptions, type EntitySchema } from 'typeorm';
import {
  BufferService,
  WriteBufferModule,
  type WriteBufferModuleOptions,
} from '../../lib/index.js';
import { createTestDatabase, type DatabaseKind, type TestDatabase } from './databases.js';
import { ENTITIES } from './entities.js';
import { QueryCounter } from './query-counter.js';
import { QueryGate } from './query-gate.js';

export interface TestApp {
  app: INestApplication;
  buffer: BufferService;
  dataSource: DataSource;
  queries: QueryCounter;
  database: TestDatabase;
  close(): Promise<void>;
}

/**
 * A Nest app with TypeORM on a fresh database and the write buffer (no
 * periodic flush unless the options ask for one).
 */
export async function createTestApp(
  kind: DatabaseKind,
  options: WriteBufferModuleOptions = {},
  extra: {
    controllers?: Type[];
    database?: TestDatabase;
    logger?: LoggerService;
    /** More modules of the app (e.g. `EventEmitterModule.forRoot()`). */
    imports?: DynamicModule[];
    /** Entities of the data source (default: every test entity). */
    entities?: EntitySchema[] | Array<Type | EntitySchema>;
  } = {},
): Promise<TestApp> {
  const database = extra.database ?? (await createTestDatabase(kind));
  const queries = new QueryCounter();
  const dataSources = new OpenedDataSources();
  let app: INestApplication | undefined;
  try {
    const moduleRef = await Test.createTestingModule({
      imports: [
        dataSources.module({
          ...database.options({ entities: extra.entities ?? ENTITIES, subscribers: [QueryGate] }),
          logger: queries,
          logging: true,
        }),
        WriteBufferModule.forRoot({ ...options, flush: { cron: false, ...options.flush } }),
        ...(extra.imports ?? []),
      ],
      controllers: extra.controllers ?? [],
    }).compile();
    app = moduleRef.createNestApplication({ logger: extra.logger ?? ['error', 'warn'] });
    await app.init();
  } catch (error) {
    // The app never started: its connections and the database made for it go now.
    await app?.close().catch(() => undefined);
    await dataSources.destroy();
    if (!extra.database) await database.drop();
    throw error;
  }
  let closed = false;
  const started = app;
  return {
    app: started,
    buffer: started.get(BufferService),
    dataSource: started.get<DataSource>(getDataSourceToken()),
    queries,
    database,
    close: async () => {
      if (closed) return;
      closed = true;
      await started.close();
      if (!extra.database) await database.drop();
    },
  };
}

/**
 * The TypeORM module of a test app, remembering the data sources it opens:
 * when the app fails to start (`compile()` throws before there is an app
 * to close), they are still closed, and not opened after the test's
 * database is gone (TypeORM would create its directory again).
 */
class OpenedDataSources {
  private readonly opening: Array<Promise<DataSource>> = [];
  private abandoned = false;

  module(options: DataSourceOptions) {
    return TypeOrmModule.forRootAsync({
      // The factory initializes the data source itself (or not, once abandoned).
      useFactory: () => ({ ...options, manualInitialization: true }),
      dataSourceFactory: async (options) => {
        const dataSource = new DataSource(options!);
        if (this.abandoned) return dataSource;
        const opening = dataSource.initialize().then(addSkippedChecks);
        this.opening.push(opening);
        return opening;
      },
    });
  }

  /** Closes every data source opened, once its opening settles. */
  async destroy() {
    this.abandoned = true;
    for (const opening of this.opening.splice(0)) {
      const dataSource = await opening.catch(() => undefined);
      if (dataSource?.isInitialized) await dataSource.destroy();
    }
  }
}

/**
 * TypeORM creates no CHECK constraints on MySQL/MariaDB: add the entities'
 * ones, so a row they refuse is refused on every database.
 */
async function addSkippedChecks(dataSource: DataSource): Promise<DataSource> {
  const type = dataSource.options.type;
  if ((type !== 'mariadb' && type !== 'mysql') || !dataSource.options.synchronize)
    return dataSource;
  for (const metadata of dataSource.entityMetadatas) {
    for (const check of metadata.checks) {
      const name = check.name ?? `CHK_${metadata.tableName}`;
      await dataSource.query(
        `ALTER TABLE ${dataSource.driver.escape(metadata.tableName)} ` +
          `ADD CONSTRAINT IF NOT EXISTS ${dataSource.driver.escape(name)} CHECK (${check.expression})`,
      );
    }
  }
  return dataSource;
}
