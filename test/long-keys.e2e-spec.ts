import 'reflect-metadata';
import { afterAll, describe, expect, it } from '@jest/globals';
import { EntitySchema } from 'typeorm';
import { InvalidIdError } from '../lib/index.js';
import { databaseKinds } from './support/databases.js';
import { closeTestClients, storageKinds, storageOptions } from './support/storages.js';
import { createTestApp } from './support/test-app.js';

interface Tag {
  name: string;
  hits: number;
}

const Tag = new EntitySchema<Tag>({
  name: 'Tag',
  tableName: 'tag',
  columns: {
    name: { type: 'text', primary: true },
    hits: { type: 'int', default: 0 },
  },
});

// MariaDB cannot make a TEXT column a primary key.
const databases = (await databaseKinds()).filter((kind) => kind !== 'mariadb');
const storages = await storageKinds();
afterAll(closeTestClients);

describe.each(databases.flatMap((db) => storages.map((storage) => [db, storage] as const)))(
  'a row key too long to index, on %s with %s storage',
  (kind, storageKind) => {
    it('is refused with InvalidIdError and buffers nothing; a key under the bound is buffered and flushed', async () => {
      const t = await createTestApp(
        kind,
        { storage: storageOptions(storageKind) },
        { entities: [Tag] },
      );
      try {
        const long = 'x'.repeat(3000);
        const fits = 'y'.repeat(1000);
        await t.dataSource.getRepository(Tag).insert([
          { name: long, hits: 0 },
          { name: fits, hits: 0 },
        ]);
        const refused = t.buffer.increment(Tag, long, 'hits', 5);
        await expect(refused).rejects.toThrow(InvalidIdError);
        await expect(refused).rejects.toThrow(
          /3004 bytes long once encoded; ids of at most 1024 bytes/,
        );
        await expect(t.buffer.update(Tag, { name: long }, { hits: 1 })).rejects.toThrow(
          InvalidIdError,
        );
        expect((await t.buffer.stats()).pending).toEqual({ counters: 0, updates: 0, inserts: 0 });

        await t.buffer.increment(Tag, fits, 'hits', 2);
        // An insert naming a long key is buffered all the same, only not readable by get() before the flush.
        await t.buffer.insert(Tag, { name: `z${long}`, hits: 7 });
        expect(await t.buffer.get(Tag, fits, 'hits')).toBe(2);
        const report = await t.buffer.flush();
        expect(report.deadLettered).toBe(0);
        const rows = await t.dataSource.getRepository(Tag).find();
        expect(rows.map((row) => [row.name.length, row.hits]).sort()).toEqual([
          [1000, 2],
          [3000, 0],
          [3001, 7],
        ]);
      } finally {
        await t.close();
      }
    });
  },
);
