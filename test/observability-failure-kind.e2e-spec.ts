import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { EventEmitter2, EventEmitterModule } from '@nestjs/event-emitter';
import { WriteBufferEvent, type FlushFailedEvent } from '../lib/index.js';
import { postgresAvailable } from './support/databases.js';
import { Post } from './support/entities.js';
import { createTestApp } from './support/test-app.js';

((await postgresAvailable()) ? describe : describe.skip)(
  'kind of a failed flush whose ledger statement is refused (PostgreSQL)',
  () => {
    it('classifies what the ledger error wraps: 40001 transient, 42501 data', async () => {
      const t = await createTestApp('postgres', {}, { imports: [EventEmitterModule.forRoot()] });
      const failed: FlushFailedEvent[] = [];
      t.app
        .get(EventEmitter2)
        .on(WriteBufferEvent.FlushFailed, (event: FlushFailedEvent) => failed.push(event));
      /** Makes the ledger refuse every new batch id with `sqlState`. */
      const refuseLedger = (sqlState: string) =>
        t.dataSource.query(
          `CREATE OR REPLACE FUNCTION wb_refuse() RETURNS trigger AS $$
           BEGIN RAISE EXCEPTION 'refused by the test' USING ERRCODE = '${sqlState}'; END $$ LANGUAGE plpgsql;
           DROP TRIGGER IF EXISTS wb_refuse ON write_buffer_ledger;
           CREATE TRIGGER wb_refuse BEFORE INSERT ON write_buffer_ledger
             FOR EACH ROW EXECUTE FUNCTION wb_refuse();`,
        );
      const acceptLedger = () =>
        t.dataSource.query('DROP TRIGGER IF EXISTS wb_refuse ON write_buffer_ledger');
      try {
        await t.dataSource.getRepository(Post).insert({ id: 1 });
        await t.buffer.increment(Post, 1, 'views', 2);

        await refuseLedger('40001'); // serialization_failure
        await expect(t.buffer.flush()).rejects.toThrow();
        await acceptLedger();
        await t.buffer.flush();

        await t.buffer.increment(Post, 1, 'views', 3);
        await refuseLedger('42501'); // insufficient_privilege
        await expect(t.buffer.flush()).rejects.toThrow();
        await acceptLedger();
        await t.buffer.flush();

        expect(failed.map((event) => event.kind)).toEqual(['transient', 'data']);
        const row = await t.dataSource.getRepository(Post).findOneByOrFail({ id: 1 });
        expect(row.views).toBe(5);
      } finally {
        await acceptLedger().catch(() => undefined);
        await t.close();
      }
    }, 30_000);
  },
);
