import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { DataSource } from 'typeorm';
import { metadataSource } from '../../test/support/entity-metadata.js';
import { SqlMembership, SqlPost } from '../../test/support/sql-entities.js';
import { BufferedEntity } from '../metadata/buffered-entity.js';
import type { Statement } from './sql-dialect.js';
import { SqliteDialect } from './sqlite.dialect.js';

/** The text and parameters of statements, without the keys they carry. */
const text = (statements: Statement[]) => statements.map(({ sql, params }) => ({ sql, params }));

describe('SqliteDialect', () => {
  let dataSource: DataSource;
  let close: () => Promise<void>;
  let dialect: SqliteDialect;
  let post: BufferedEntity;
  let membership: BufferedEntity;
  beforeAll(async () => {
    ({ dataSource, close } = await metadataSource('sqlite', [SqlPost, SqlMembership]));
    dialect = new SqliteDialect(dataSource);
    post = new BufferedEntity(dataSource, 'default', dataSource.getMetadata(SqlPost));
    membership = new BufferedEntity(dataSource, 'default', dataSource.getMetadata(SqlMembership));
  });
  afterAll(() => close());

  it('adds deltas with one UPDATE … FROM (VALUES …), integers bound as BigInt, absent deltas as NULL (the column stays as it is)', () => {
    const statements = dialect.counters(post, [
      [post.key(1), { views: 2 }],
      [post.key(2), { likes: 1, views: 3 }],
    ]);
    expect(text(statements)).toEqual([
      {
        sql:
          'UPDATE "post" AS "t" SET "likes" = COALESCE(COALESCE("t"."likes", 0) + "v".column2, "t"."likes"), ' +
          '"views" = COALESCE(COALESCE("t"."views", 0) + "v".column3, "t"."views") ' +
          'FROM (VALUES (?, ?, ?), (?, ?, ?)) AS "v" WHERE "t"."id" = "v".column1',
        params: [1n, null, 2n, 2n, 1n, 3n],
      },
    ]);
    expect(statements[0].keys).toEqual([post.key(1), post.key(2)]);
  });

  it('matches a composite key on every primary column', () => {
    expect(
      text(
        dialect.counters(membership, [[membership.key({ orgId: 'a', userId: 1 }), { points: 5 }]]),
      ),
    ).toEqual([
      {
        sql:
          'UPDATE "membership" AS "t" SET "points" = COALESCE(COALESCE("t"."points", 0) + "v".column3, "t"."points") ' +
          'FROM (VALUES (?, ?, ?)) AS "v" WHERE "t"."orgId" = "v".column1 AND "t"."userId" = "v".column2',
        params: ['a', 1n, 5n],
      },
    ]);
  });

  it('sets columns with one UPDATE per set of columns', () => {
    expect(
      text(
        dialect.updates(post, [
          [post.key(1), { title: 'x' }],
          [post.key(2), { views: 4, title: 'y' }],
          [post.key(3), { title: 'z' }],
        ]),
      ),
    ).toEqual([
      {
        sql: 'UPDATE "post" AS "t" SET "title" = "v".column2 FROM (VALUES (?, ?), (?, ?)) AS "v" WHERE "t"."id" = "v".column1',
        params: [1n, 'x', 3n, 'z'],
      },
      {
        sql:
          'UPDATE "post" AS "t" SET "title" = "v".column2, "views" = "v".column3 ' +
          'FROM (VALUES (?, ?, ?)) AS "v" WHERE "t"."id" = "v".column1',
        params: [2n, 'y', 4n],
      },
    ]);
  });

  it('inserts consecutive rows naming the same columns with one INSERT, in order', () => {
    expect(
      dialect.inserts(post, [{ id: 3, title: 'a' }, { title: 'b', id: 4 }, { id: 5 }, {}]),
    ).toEqual([
      {
        sql: 'INSERT INTO "post" ("id", "title") SELECT * FROM (VALUES (?, ?), (?, ?)) AS "v"',
        params: [3n, 'a', 4n, 'b'],
      },
      { sql: 'INSERT INTO "post" ("id") SELECT * FROM (VALUES (?)) AS "v"', params: [5n] },
      { sql: 'INSERT INTO "post" DEFAULT VALUES', params: [] },
    ]);
  });

  it('chunks rows under the bound-parameter limit (32766)', () => {
    const rows = Array.from({ length: 16_384 }, (_, i) => ({ id: i, title: 't' }));
    const statements = dialect.inserts(post, rows);
    expect(statements.map((s) => s.params.length)).toEqual([32_766, 2]);
    expect(statements.flatMap((s) => s.params.filter((_, i) => i % 2 === 0))).toEqual(
      rows.map((row) => BigInt(row.id)),
    );
  });

  it('writes the ledger statements with ? placeholders and an integer applied_at', () => {
    expect(dialect.ledgerSchema('wb_ledger')).toBe(
      'CREATE TABLE IF NOT EXISTS "wb_ledger" ("batch_id" varchar(200) NOT NULL PRIMARY KEY, ' +
        '"applied_at" integer NOT NULL, "missed" text NULL)',
    );
    expect(dialect.ledgerAddMissed('wb_ledger')).toBe(
      'ALTER TABLE "wb_ledger" ADD COLUMN "missed" text NULL',
    );
    expect(dialect.ledgerClaim('wb_ledger', 'b1', 123)).toEqual({
      sql:
        'INSERT INTO "wb_ledger" ("batch_id", "applied_at") VALUES (?, ?) ' +
        'ON CONFLICT ("batch_id") DO NOTHING RETURNING "batch_id"',
      params: ['b1', 123],
    });
    expect(dialect.ledgerSetMissed('wb_ledger', 'b1', '[]')).toEqual({
      sql: 'UPDATE "wb_ledger" SET "missed" = ? WHERE "batch_id" = ?',
      params: ['[]', 'b1'],
    });
    expect(dialect.ledgerRead('wb_ledger', 'b1')).toEqual({
      sql: 'SELECT "applied_at" AS "applied_at", "missed" AS "missed" FROM "wb_ledger" WHERE "batch_id" = ?',
      params: ['b1'],
    });
    expect(dialect.ledgerPrune('wb_ledger', 100, 'format')).toEqual({
      sql: 'DELETE FROM "wb_ledger" WHERE "applied_at" < ? AND "batch_id" <> ?',
      params: [100, 'format'],
    });
  });

  it('reads a cell and the applied batch ids in one statement', () => {
    expect(dialect.readCell(post, post.key(7), 'views', 'wb_ledger', ['b1', 'b2'])).toEqual({
      sql:
        'SELECT 0 AS "kind", CAST("t"."views" AS TEXT) AS "value" FROM "post" "t" WHERE "t"."id" = ? ' +
        'UNION ALL SELECT 1, "batch_id" FROM "wb_ledger" WHERE "batch_id" IN (?, ?)',
      params: [7, 'b1', 'b2'],
    });
    expect(
      dialect.readCell(
        membership,
        membership.key({ userId: 1, orgId: 'a' }),
        'points',
        'wb_ledger',
        [],
      ),
    ).toEqual({
      sql:
        'SELECT 0 AS "kind", CAST("t"."points" AS TEXT) AS "value" FROM "membership" "t" ' +
        'WHERE "t"."orgId" = ? AND "t"."userId" = ?',
      params: ['a', 1],
    });
  });

  it('runs on SQLite: applies the deltas and names the keys no row has', async () => {
    await dataSource.query(`INSERT INTO "post" ("id", "views") VALUES (1, 10), (3, 30)`);
    const runner = dataSource.createQueryRunner();
    try {
      const run = (statement: Statement) => runner.query(statement.sql, statement.params, true);
      const [statement] = dialect.counters(post, [
        [post.key(1), { views: 2 }],
        [post.key(2), { views: 5 }],
        [post.key(3), { views: 3 }],
        [post.key(4), { views: 1 }],
      ]);
      expect(await dialect.unmatchedKeys(statement, run)).toEqual([post.key(2), post.key(4)]);
      expect(await dataSource.query(`SELECT "id", "views" FROM "post" ORDER BY "id"`)).toEqual([
        { id: 1, views: 12 },
        { id: 3, views: 33 },
      ]);
    } finally {
      await runner.release();
    }
  });
  it('runs on SQLite: reads the cells of many rows, by position, with the applied batch ids', async () => {
    await dataSource.query(
      `INSERT INTO "post" ("id", "views", "likes") VALUES (5, 50, 1), (6, 0, 2)`,
    );
    await dataSource.query(`CREATE TABLE "wb_ledger" ("batch_id" varchar(200) PRIMARY KEY)`);
    await dataSource.query(`INSERT INTO "wb_ledger" VALUES ('b1')`);
    try {
      const keys = [post.key(6), post.key(404), post.key(5)];
      const [statement, ...more] = dialect.readCells(post, keys, ['views', 'likes'], 'wb_ledger', [
        'b1',
        'b2',
      ]);
      expect(more).toEqual([]);
      expect(statement.keys).toEqual(keys);
      const read = dialect.cellsRead(await dataSource.query(statement.sql, statement.params));
      expect(read.rows).toEqual(
        expect.arrayContaining([
          [1, 0, 2],
          [3, 50, 1],
        ]),
      );
      expect(read.rows).toHaveLength(2);
      expect(read.applied).toEqual(['b1']);
    } finally {
      await dataSource.query(`DROP TABLE "wb_ledger"`);
    }
  });
});
