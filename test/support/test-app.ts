import type { INestApplication, LoggerService, Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule, getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource, EntitySchema } from 'typeorm';
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
    /** Entities of the data source (default: every test entity). */
    entities?: EntitySchema[] | Array<Type | EntitySchema>;
  } = {},
): Promise<TestApp> {
  const database = extra.database ?? (await createTestDatabase(kind));
  const queries = new QueryCounter();
  let app: INestApplication | undefined;
  try {
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({
          ...database.options({ entities: extra.entities ?? ENTITIES, subscribers: [QueryGate] }),
          logger: queries,
          logging: true,
        }),
        WriteBufferModule.forRoot({ ...options, flush: { cron: false, ...options.flush } }),
      ],
      controllers: extra.controllers ?? [],
    }).compile();
    app = moduleRef.createNestApplication({ logger: extra.logger ?? ['error', 'warn'] });
    await app.init();
  } catch (error) {
    // The app never started: its connections and the database made for it go now.
    await app?.close().catch(() => undefined);
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
