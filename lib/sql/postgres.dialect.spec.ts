import { beforeAll, describe, expect, it } from '@jest/globals';
import { EntitySchema, type DataSource } from 'typeorm';
import { metadataSource } from '../../test/support/entity-metadata.js';
import { SqlMembership, SqlPost } from '../../test/support/sql-entities.js';
import { BufferedEntity } from '../metadata/buffered-entity.js';
import { PostgresDialect, arrayLiteral } from './postgres.dialect.js';
import type { Statement } from './sql-dialect.js';

/** The text and parameters of statements, without the keys they carry. */
const text = (statements: Statement[]) => statements.map(({ sql, params }) => ({ sql, params }));

/** Columns whose PostgreSQL type needs a cast other than its own name. */
const Tagged = new EntitySchema({
  name: 'Tagged',
  tableName: 'tagged',
  schema: 'app',
  columns: {
    id: { type: 'int', primary: true },
    mood: { type: 'enum', enum: ['happy', 'sad'] },
    code: { type: 'char', length: 3 },
    tags: { type: 'text', array: true },
  },
});

/** What every keyed UPDATE is wrapped in: the positions of the keys no row has. */
const unmatched = (update: string, rows: number) =>
  `WITH "wb_u" AS (${update} RETURNING "v"."wb_n") ` +
  `SELECT "n" FROM generate_series(1, ${rows}) AS "g"("n") ` +
  `WHERE NOT EXISTS (SELECT 1 FROM "wb_u" WHERE "wb_u"."wb_n" = "n")`;

describe('PostgresDialect', () => {
  let dataSource: DataSource;
  let dialect: PostgresDialect;
  let post: BufferedEntity;
  let membership: BufferedEntity;
  let tagged: BufferedEntity;
  beforeAll(async () => {
    ({ dataSource } = await metadataSource('postgres', [SqlPost, SqlMembership, Tagged]));
    dialect = new PostgresDialect(dataSource);
    post = new BufferedEntity(dataSource, 'default', dataSource.getMetadata(SqlPost));
    membership = new BufferedEntity(dataSource, 'default', dataSource.getMetadata(SqlMembership));
    tagged = new BufferedEntity(dataSource, 'default', dataSource.getMetadata(Tagged));
  });

  it('adds deltas with one UPDATE … FROM unnest(one array per column), absent deltas as NULL (the column stays as it is)', () => {
    const statements = dialect.counters(post, [
      [post.key(1), { views: 2 }],
      [post.key(2), { likes: 1, views: 3 }],
    ]);
    expect(text(statements)).toEqual([
      {
        sql: unmatched(
          'UPDATE "post" AS "t" SET "likes" = COALESCE(COALESCE("t"."likes", 0) + "v"."wb_c1", "t"."likes"), ' +
            '"views" = COALESCE(COALESCE("t"."views", 0) + "v"."wb_c2", "t"."views") ' +
            'FROM unnest($1::integer[], $2::integer[], $3::integer[]) WITH ORDINALITY AS "v"("wb_c0", "wb_c1", "wb_c2", "wb_n") ' +
            'WHERE "t"."id" = "v"."wb_c0"',
          2,
        ),
        params: [
          [1, 2],
          [null, 1],
          [2, 3],
        ],
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
        sql: unmatched(
          'UPDATE "membership" AS "t" SET "points" = COALESCE(COALESCE("t"."points", 0) + "v"."wb_c2", "t"."points") ' +
            'FROM unnest($1::character varying[], $2::integer[], $3::integer[]) WITH ORDINALITY AS "v"("wb_c0", "wb_c1", "wb_c2", "wb_n") ' +
            'WHERE "t"."orgId" = "v"."wb_c0" AND "t"."userId" = "v"."wb_c1"',
          1,
        ),
        params: [['a'], [1], [5]],
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
        sql: unmatched(
          'UPDATE "post" AS "t" SET "title" = "v"."wb_c1" ' +
            'FROM unnest($1::integer[], $2::character varying[]) WITH ORDINALITY AS "v"("wb_c0", "wb_c1", "wb_n") ' +
            'WHERE "t"."id" = "v"."wb_c0"',
          2,
        ),
        params: [
          [1, 3],
          ['x', 'z'],
        ],
      },
      {
        sql: unmatched(
          'UPDATE "post" AS "t" SET "title" = "v"."wb_c1", "views" = "v"."wb_c2" ' +
            'FROM unnest($1::integer[], $2::character varying[], $3::integer[]) WITH ORDINALITY AS "v"("wb_c0", "wb_c1", "wb_c2", "wb_n") ' +
            'WHERE "t"."id" = "v"."wb_c0"',
          1,
        ),
        params: [[2], ['y'], [4]],
      },
    ]);
  });

  it('inserts consecutive rows naming the same columns with one INSERT, in order', () => {
    expect(
      dialect.inserts(post, [{ id: 3, title: 'a' }, { title: 'b', id: 4 }, { id: 5 }, {}]),
    ).toEqual([
      {
        sql: 'INSERT INTO "post" ("id", "title") SELECT * FROM unnest($1::integer[], $2::character varying[]) AS "v"("wb_c0", "wb_c1")',
        params: [
          [3, 4],
          ['a', 'b'],
        ],
      },
      {
        sql: 'INSERT INTO "post" ("id") SELECT * FROM unnest($1::integer[]) AS "v"("wb_c0")',
        params: [[5]],
      },
      { sql: 'INSERT INTO "post" DEFAULT VALUES', params: [] },
    ]);
  });

  it('casts an enum to its schema-qualified type, character to bpchar, and array columns row by row', () => {
    expect(
      dialect.inserts(tagged, [{ id: 1, mood: 'happy', code: 'ab', tags: '["x","y"]' }]),
    ).toEqual([
      {
        sql:
          'INSERT INTO "app"."tagged" ("code", "id", "mood", "tags") SELECT * FROM ' +
          '(SELECT "wb_r"."wb_c0", "wb_r"."wb_c1", "wb_r"."wb_c2", "wb_r"."wb_c3"::text[] AS "wb_c3" ' +
          'FROM unnest($1::bpchar[], $2::integer[], $3::"app"."tagged_mood_enum"[], $4::text[]) AS "wb_r"("wb_c0", "wb_c1", "wb_c2", "wb_c3")) AS "v"',
        params: [['ab'], [1], ['happy'], ['{"x","y"}']],
      },
    ]);
  });

  it('writes an array literal with quoted elements, nested arrays and NULLs', () => {
    expect(arrayLiteral('[[1,2],[3,null]]')).toBe('{{"1","2"},{"3",NULL}}');
    expect(arrayLiteral(['a"b', 'c\\d', { k: 1 }])).toBe('{"a\\"b","c\\\\d","{\\"k\\":1}"}');
    expect(arrayLiteral(null)).toBeNull();
  });

  it('writes the ledger statements with $n placeholders and a bigint applied_at', () => {
    expect(dialect.ledgerSchema('wb_ledger')).toBe(
      'CREATE TABLE IF NOT EXISTS "wb_ledger" ("batch_id" varchar(200) NOT NULL PRIMARY KEY, ' +
        '"applied_at" bigint NOT NULL, "missed" text NULL)',
    );
    expect(dialect.ledgerAddMissed('wb_ledger')).toBe(
      'ALTER TABLE "wb_ledger" ADD COLUMN "missed" text NULL',
    );
    expect(dialect.ledgerClaim('wb_ledger', 'b1', 123)).toEqual({
      sql:
        'INSERT INTO "wb_ledger" ("batch_id", "applied_at") VALUES ($1, $2) ' +
        'ON CONFLICT ("batch_id") DO NOTHING RETURNING "batch_id"',
      params: ['b1', 123],
    });
    expect(dialect.ledgerSetMissed('wb_ledger', 'b1', '[]')).toEqual({
      sql: 'UPDATE "wb_ledger" SET "missed" = $1 WHERE "batch_id" = $2',
      params: ['[]', 'b1'],
    });
    expect(dialect.ledgerRead('wb_ledger', 'b1')).toEqual({
      sql: 'SELECT "applied_at" AS "applied_at", "missed" AS "missed" FROM "wb_ledger" WHERE "batch_id" = $1',
      params: ['b1'],
    });
    expect(dialect.ledgerPrune('wb_ledger', 100, 'format')).toEqual({
      sql: 'DELETE FROM "wb_ledger" WHERE "applied_at" < $1 AND "batch_id" <> $2',
      params: [100, 'format'],
    });
  });

  it('reads a cell and the applied batch ids in one statement', () => {
    expect(dialect.readCell(post, post.key(7), 'views', 'wb_ledger', ['b1', 'b2'])).toEqual({
      sql:
        'SELECT 0 AS "kind", CAST("t"."views" AS TEXT) AS "value" FROM "post" "t" WHERE "t"."id" = $1 ' +
        'UNION ALL SELECT 1, "batch_id" FROM "wb_ledger" WHERE "batch_id" IN ($2, $3)',
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
        'WHERE "t"."orgId" = $1 AND "t"."userId" = $2',
      params: ['a', 1],
    });
  });
  it('reads the cells of many rows and the applied batch ids in one statement', () => {
    expect(
      text(
        dialect.readCells(post, [post.key(7), post.key(9)], ['views', 'likes'], 'wb_ledger', [
          'b1',
        ]),
      ),
    ).toEqual([
      {
        sql:
          'SELECT 0 AS "kind", "v"."wb_n" AS "n", CAST("t"."views" AS TEXT) AS "c0", CAST("t"."likes" AS TEXT) AS "c1" ' +
          'FROM unnest($1::integer[]) WITH ORDINALITY AS "v"("wb_c0", "wb_n") JOIN "post" "t" ON "t"."id" = "v"."wb_c0" ' +
          'UNION ALL SELECT 1, 0, "batch_id", NULL FROM "wb_ledger" WHERE "batch_id" IN ($2)',
        params: [[7, 9], 'b1'],
      },
    ]);
  });
});
