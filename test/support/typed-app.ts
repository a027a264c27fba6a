import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule, getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import {
  BufferService,
  WriteBufferModule,
  type WriteBufferStorageOptions,
} from '../../lib/index.js';
import { admin, createTestDatabase, type DatabaseKind } from './databases.js';
import { typedEntities } from './entities.js';
import { closeTestClients, storageOptions, type StorageKind } from './storages.js';

export interface TypedApp {
  app: INestApplication;
  buffer: BufferService;
  dataSource: DataSource;
  close(): Promise<void>;
}

/**
 * A Nest app on a fresh database holding the entities of the column-type
 * and row-key suites, with the write buffer on one storage (flushed only
 * when a test asks).
 */
export async function createTypedApp(kind: DatabaseKind, storage: StorageKind): Promise<TypedApp> {
  const database = await createTestDatabase(kind);
  if (kind === 'postgres') {
    // A schema of its own for the entity whose enum must be schema-qualified.
    const { url } = database.options({ entities: [] }) as { url: string };
    await admin('CREATE SCHEMA wb_types', url);
  }
  const options: WriteBufferStorageOptions = storageOptions(storage);
  const moduleRef = await Test.createTestingModule({
    imports: [
      TypeOrmModule.forRoot(database.options({ entities: typedEntities(kind) })),
      WriteBufferModule.forRoot({ storage: options, flush: { cron: false } }),
    ],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: ['error', 'warn'] });
  await app.init();
  return {
    app,
    buffer: app.get(BufferService),
    dataSource: app.get<DataSource>(getDataSourceToken()),
    close: async () => {
      await app.close();
      await closeTestClients();
      await database.drop();
    },
  };
}
